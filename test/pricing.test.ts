import assert from 'node:assert/strict';
import { test } from 'node:test';
import { costOf, priceKey, usageOfBody } from '../src/pricing.js';

const usage = (input: number, output: number) => ({
  input_tokens: input,
  output_tokens: output,
  total_tokens: input + output,
});

test('batch costs half the standard price', () => {
  assert.deepEqual(costOf('gpt-4o-mini', usage(1_000_000, 1_000_000)), {
    batch: 0.375,
    standard_equivalent: 0.75,
    saved: 0.375,
  });
  assert.deepEqual(costOf('gpt-5', usage(2_000_000, 500_000)), {
    batch: 3.75,
    standard_equivalent: 7.5,
    saved: 3.75,
  });
  assert.deepEqual(costOf('text-embedding-3-small', usage(1_000_000, 0)), {
    batch: 0.01,
    standard_equivalent: 0.02,
    saved: 0.01,
  });
});

test('dated snapshots match their model, the longest name winning', () => {
  assert.equal(priceKey('gpt-4o-mini-2024-07-18'), 'gpt-4o-mini');
  assert.equal(priceKey('gpt-4o-2024-08-06'), 'gpt-4o');
  assert.equal(priceKey('gpt-4.1-nano-2025-04-14'), 'gpt-4.1-nano');
  assert.equal(priceKey('gpt-5-mini'), 'gpt-5-mini');
  assert.equal(priceKey('o3-2025-04-16'), 'o3');
  assert.equal(priceKey('o4-mini'), 'o4-mini');
});

test('unknown models have no cost rather than a wrong one', () => {
  for (const model of [
    'gpt-4o-audio-preview',
    'ft:gpt-4o-mini:org::abc',
    'o3-pro',
    'gpt-4',
    'llama',
  ]) {
    assert.equal(costOf(model, usage(10, 10)), null, model);
  }
});

test('usage is read from both usage shapes', () => {
  assert.deepEqual(
    usageOfBody({ usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } }),
    usage(3, 4),
  );
  assert.deepEqual(
    usageOfBody({ usage: { input_tokens: 5, output_tokens: 6, total_tokens: 11 } }),
    usage(5, 6),
  );
  assert.deepEqual(usageOfBody({ usage: { prompt_tokens: 8, total_tokens: 8 } }), usage(8, 0));
  assert.deepEqual(usageOfBody({ usage: { input_tokens: 2, output_tokens: 1 } }), usage(2, 1));
  assert.deepEqual(usageOfBody(null), usage(0, 0));
  assert.deepEqual(usageOfBody({ usage: 'x' }), usage(0, 0));
});

test('Anthropic and Gemini models are priced at their batch discount, dated ids included', () => {
  assert.deepEqual(costOf('claude-sonnet-4-5-20250929', usage(1_000_000, 1_000_000)), {
    batch: 9,
    standard_equivalent: 18,
    saved: 9,
  });
  assert.equal(priceKey('claude-3-5-haiku-20241022'), 'claude-3-5-haiku');
  assert.equal(priceKey('claude-opus-4-1'), 'claude-opus-4-1');
  assert.equal(priceKey('gemini-2.5-flash-lite'), 'gemini-2.5-flash-lite');
  assert.deepEqual(costOf('gemini-2.5-flash', usage(1_000_000, 1_000_000))?.batch, 1.4);
});

test('Gemini’s usageMetadata counts thinking tokens as output', () => {
  assert.deepEqual(
    usageOfBody({
      usageMetadata: {
        promptTokenCount: 10,
        candidatesTokenCount: 4,
        thoughtsTokenCount: 6,
        totalTokenCount: 20,
      },
    }),
    usage(10, 10),
  );
});
