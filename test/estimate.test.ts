import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import {
  estimateCost,
  inputTokensOf,
  tokenizerFor,
  UNBOUNDED_OUTPUT_GUESS,
} from '../src/estimate.js';
import { costOf } from '../src/pricing.js';

test('each model is counted with its own encoding', () => {
  assert.equal(tokenizerFor('gpt-4o-mini'), o200k.countTokens);
  assert.equal(tokenizerFor('gpt-5-nano'), o200k.countTokens);
  assert.equal(tokenizerFor('o3'), o200k.countTokens);
  assert.equal(tokenizerFor('gpt-3.5-turbo'), cl100k.countTokens);
  assert.equal(tokenizerFor('text-embedding-3-small'), cl100k.countTokens);
});

test('chat input tokens: the text of every message plus OpenAI’s framing', () => {
  const body = {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You label sentiment.' },
      { role: 'user', content: [{ type: 'text', text: 'Great phone, terrible battery.' }] },
    ],
  };
  const expected =
    o200k.countTokens('You label sentiment.') +
    o200k.countTokens('Great phone, terrible battery.') +
    2 * 4 +
    3;
  assert.equal(inputTokensOf('/v1/chat/completions', body), expected);
  assert.equal(
    inputTokensOf('/v1/embeddings', { model: 'text-embedding-3-small', input: ['a b', 'c'] }),
    cl100k.countTokens('a b') + cl100k.countTokens('c'),
  );
});

test('a file’s estimate bounds output by max_tokens and prices it at the batch rate', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nightshift-estimate-'));
  const path = join(dir, 'requests.jsonl');
  const line = (id: string, extra: object) =>
    JSON.stringify({
      custom_id: id,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hello there' }],
        ...extra,
      },
    });
  await writeFile(path, `${line('a', { max_tokens: 50 })}\n${line('b', {})}\n`);
  const estimate = await estimateCost(path);
  const perRequest = o200k.countTokens('Hello there') + 4 + 3;
  assert.equal(estimate.inputTokens, 2 * perRequest);
  assert.equal(estimate.outputTokens, 50 + UNBOUNDED_OUTPUT_GUESS);
  assert.equal(estimate.unbounded, 1);
  const usage = {
    input_tokens: estimate.inputTokens,
    output_tokens: estimate.outputTokens,
    total_tokens: estimate.inputTokens + estimate.outputTokens,
  };
  assert.equal(estimate.usd, costOf('gpt-4o-mini', usage)?.batch);
});

test('past the sample, input tokens are estimated within the error the estimate states', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nightshift-estimate-'));
  const path = join(dir, 'requests.jsonl');
  // Texts whose tokens per character differ fourfold (prose, digits, CJK), in a long cycle.
  const texts = [
    'Summarise the review in one sentence: the kettle boils fast and looks fine.',
    '3.14159 2.71828 1.41421 1.73205 0.57721 1.61803 2.50290 4.66920',
    '这个水壶烧水很快，外观也不错，但是把手有点烫。',
  ];
  const lines = Array.from({ length: 6_000 }, (_, i) =>
    JSON.stringify({
      custom_id: `r-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'gpt-4o-mini',
        max_tokens: 10,
        messages: [{ role: 'user', content: texts[(i * 7) % 3]?.repeat(1 + (i % 5)) }],
      },
    }),
  );
  await writeFile(path, `${lines.join('\n')}\n`);
  const exact = await estimateCost(path);
  assert.equal(exact.sample, undefined, 'without the total, every request is counted');
  const sampled = await estimateCost(path, [], lines.length);
  const tokenized = sampled.sample?.requests ?? 0;
  assert.ok(tokenized > 1_800 && tokenized < 2_200, `${tokenized} tokenized`);
  assert.equal(sampled.sample?.of, 6_000);
  const errorPct = sampled.sample?.errorPct ?? 0;
  assert.ok(errorPct > 0 && errorPct < 5, `stated error ${errorPct}%`);
  const actualPct = (100 * Math.abs(sampled.inputTokens - exact.inputTokens)) / exact.inputTokens;
  assert.ok(actualPct <= errorPct, `off by ${actualPct}%, stated ±${errorPct}%`);
  assert.equal(sampled.outputTokens, exact.outputTokens, 'output bounds are never sampled');
  assert.deepEqual(await estimateCost(path, [], lines.length), sampled, 'the same every time');
  const few = await estimateCost(path, [], 2_000);
  assert.equal(few.sample, undefined, 'no more requests than the sample: all are counted');
});
