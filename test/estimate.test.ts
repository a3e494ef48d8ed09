import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import {
  CostTally,
  ESTIMATE_SAMPLE,
  inputTokensOf,
  tokenizerFor,
  UNBOUNDED_OUTPUT_GUESS,
} from '../src/estimate.js';
import { costOf } from '../src/pricing.js';
import { validateRequestsFile } from '../src/requests.js';

/** A file's estimate as submit makes it: tallied in the validation's pass. */
async function estimateOf(path: string) {
  const tally = new CostTally();
  const report = await validateRequestsFile(path, {
    onRequest: ({ url, body }) => body && tally.add(url, body),
  });
  assert.ok(report.ok, JSON.stringify(report.errors));
  return tally.estimate();
}

test('each model is counted with its own encoding', async () => {
  assert.equal(await tokenizerFor('gpt-4o-mini'), o200k.countTokens);
  assert.equal(await tokenizerFor('gpt-5-nano'), o200k.countTokens);
  assert.equal(await tokenizerFor('o3'), o200k.countTokens);
  assert.equal(await tokenizerFor('gpt-3.5-turbo'), cl100k.countTokens);
  assert.equal(await tokenizerFor('text-embedding-3-small'), cl100k.countTokens);
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
  assert.equal(inputTokensOf('/v1/chat/completions', body, o200k.countTokens), expected);
  const embeddings = { model: 'text-embedding-3-small', input: ['a b', 'c'] };
  assert.equal(
    inputTokensOf('/v1/embeddings', embeddings, cl100k.countTokens),
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
  const estimate = await estimateOf(path);
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
  const exactTokens = lines.reduce((n, line) => {
    const { url, body } = JSON.parse(line);
    return n + inputTokensOf(url, body, o200k.countTokens);
  }, 0);
  const sampled = await estimateOf(path);
  assert.equal(sampled.sample?.requests, ESTIMATE_SAMPLE);
  assert.equal(sampled.sample?.of, 6_000);
  const errorPct = sampled.sample?.errorPct ?? 0;
  assert.ok(errorPct > 0 && errorPct < 5, `stated error ${errorPct}%`);
  const actualPct = (100 * Math.abs(sampled.inputTokens - exactTokens)) / exactTokens;
  assert.ok(actualPct <= errorPct, `off by ${actualPct}%, stated ±${errorPct}%`);
  assert.equal(sampled.outputTokens, 6_000 * 10, 'output bounds are never sampled');
  assert.deepEqual(await estimateOf(path), sampled, 'the same every time');
  await writeFile(path, `${lines.slice(0, ESTIMATE_SAMPLE).join('\n')}\n`);
  const few = await estimateOf(path);
  assert.equal(few.sample, undefined, 'no more requests than the sample: all are counted');
  const fewExact = lines
    .slice(0, ESTIMATE_SAMPLE)
    .reduce(
      (n, line) =>
        n + inputTokensOf('/v1/chat/completions', JSON.parse(line).body, o200k.countTokens),
      0,
    );
  assert.equal(few.inputTokens, fewExact);
});
