import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ApplicationFailure } from '@temporalio/common';
import { classifyAttempt } from '../activities/classify.js';
import { mergeResults } from '../activities/merge.js';
import { prepareParts } from '../activities/prepare.js';
import { artifactNames } from '../src/artifacts.js';
import { LocalArtifactStore } from '../src/store/local.js';
import type { ArtifactName, PartRef, ResultLine } from '../workflows/types.js';
import { artifact } from './helpers/names.js';

const store = new LocalArtifactStore(await mkdtemp(join(tmpdir(), 'nightshift-merge-')));
const runId = 'merge-run';

async function part(n: number, ids: string[]): Promise<PartRef> {
  const path = artifactNames.part(n);
  const { bytes } = await store.writeAtomic(
    runId,
    path,
    ids.map((id) =>
      JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/embeddings', body: {} }),
    ),
  );
  return { index: n, artifact: path, requests: ids.length, bytes };
}

const result = (id: string, status: ResultLine['status'], attempts: number): ResultLine => ({
  custom_id: id,
  status,
  response:
    status === 'succeeded'
      ? {
          status_code: 200,
          request_id: 'r',
          body: { usage: { prompt_tokens: 2, total_tokens: 2 } },
        }
      : null,
  error: status === 'succeeded' ? null : { code: 'batch_expired', message: 'late' },
  attempts,
  batch_id: `batch_${attempts}`,
});

const usage = (tokens: number) => ({
  input_tokens: tokens,
  output_tokens: 0,
  total_tokens: tokens,
});

async function attemptFile(name: string, lines: ResultLine[]): Promise<ArtifactName> {
  await store.writeAtomic(
    runId,
    artifact(name),
    lines.map((l) => JSON.stringify(l)),
  );
  return artifact(name);
}

test('merges parts and attempts into one line per input line, in input order', async () => {
  const part1 = await part(1, ['a', 'b', 'c', 'd']);
  const part2 = await part(2, ['e', 'f']);
  // A part the run never started (it stopped first): no attempt, its ids read from the part.
  const part3 = await part(3, ['g']);
  const p1a1 = await attemptFile('results/part-0001.attempt-1.jsonl', [
    result('a', 'succeeded', 1),
    result('b', 'expired', 1),
    result('c', 'expired', 1),
    result('d', 'succeeded', 1),
  ]);
  // A later attempt holds what the one before resubmitted, in the same order.
  const p1a2 = await attemptFile('results/part-0001.attempt-2.jsonl', [
    result('b', 'expired', 2),
    result('c', 'succeeded', 2),
  ]);
  const p1a3 = await attemptFile('results/part-0001.attempt-3.jsonl', [result('b', 'failed', 3)]);
  const p2a1 = await attemptFile('results/part-0002.attempt-1.jsonl', [
    result('e', 'succeeded', 1),
    result('f', 'cancelled', 1),
  ]);
  // The first attempt answers every line of its part: the part itself is not read.
  await store.remove(runId, part1.artifact);
  await store.remove(runId, part2.artifact);

  const progress: number[] = [];
  const input = {
    runId,
    unfinishedStatus: 'cancelled' as const,
    parts: [
      { part: part1, results: [p1a1, p1a2, p1a3], usage: usage(6) },
      { part: part2, results: [p2a1], usage: usage(2) },
      { part: part3, results: [], usage: usage(0) },
    ],
  };
  const merged = await mergeResults(store, input, (n) => progress.push(n));
  assert.deepEqual(merged, {
    results: 'results.jsonl',
    counts: { total: 7, succeeded: 4, invalid_output: 0, failed: 1, expired: 0, cancelled: 2 },
    usage: { input_tokens: 8, output_tokens: 0, total_tokens: 8 },
  });
  const lines: ResultLine[] = [];
  for await (const line of store.readLines(runId, artifact('results.jsonl')))
    lines.push(JSON.parse(line.text));
  assert.deepEqual(
    lines.map((l) => [l.custom_id, l.status, l.attempts]),
    [
      ['a', 'succeeded', 1],
      ['b', 'failed', 3],
      ['c', 'succeeded', 2],
      ['d', 'succeeded', 1],
      ['e', 'succeeded', 1],
      ['f', 'cancelled', 1],
      ['g', 'cancelled', 0],
    ],
  );
  assert.deepEqual(lines[6]?.error?.code, 'run_stopped');
  assert.equal(lines[6]?.batch_id, null);
  assert.deepEqual(lines[2], result('c', 'succeeded', 2));
  assert.deepEqual(progress, []);

  assert.deepEqual(await mergeResults(store, input), merged, 'merging again gives the same');
});

test('a first attempt shorter than its part fails the merge, naming the part', async () => {
  const short = await part(4, ['h', 'i']);
  const results = [
    await attemptFile('results/part-0004.attempt-1.jsonl', [result('h', 'succeeded', 1)]),
  ];
  await assert.rejects(
    mergeResults(store, { runId, parts: [{ part: short, results, usage: usage(2) }] }),
    (err: ApplicationFailure) => {
      assert.equal(err.type, 'ArtifactMissing');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /^part 4: its first attempt's results have 1 lines, not 2$/);
      return true;
    },
  );
});

test('prepare, classify and merge fit together', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nightshift-pipeline-'));
  const inputPath = join(dir, 'requests.jsonl');
  const ids = ['r1', 'r2', 'r3'];
  await writeFile(
    inputPath,
    ids
      .map((id) =>
        JSON.stringify({
          custom_id: id,
          method: 'POST',
          url: '/v1/embeddings',
          body: { model: 'text-embedding-3-small' },
        }),
      )
      .join('\n'),
  );
  const run = 'pipeline';
  const prepared = await prepareParts(store, {
    runId: run,
    inputFile: inputPath,
    maxRequestsPerBatch: 2,
    maxBytesPerBatch: 1 << 20,
  });
  const answer = (id: string) =>
    JSON.stringify({
      custom_id: id,
      response: {
        status_code: 200,
        request_id: id,
        body: { usage: { prompt_tokens: 1, total_tokens: 1 } },
      },
      error: null,
    });
  const base = {
    runId: run,
    batchStatus: 'expired' as const,
    errors: null,
    lastAttempt: false,
  };
  // Part 1: r2 expires in attempt 1 and succeeds in attempt 2; part 2 succeeds at once.
  await store.writeAtomic(run, artifact('downloads/p1a1.jsonl'), [answer('r1')]);
  const p1a1 = await classifyAttempt(store, {
    ...base,
    part: 1,
    attempt: 1,
    requests: artifact('parts/part-0001.jsonl'),
    output: artifact('downloads/p1a1.jsonl'),
    batchId: 'batch_a',
  });
  await store.writeAtomic(run, artifact('downloads/p1a2.jsonl'), [answer('r2')]);
  const p1a2 = await classifyAttempt(store, {
    ...base,
    part: 1,
    attempt: 2,
    requests: p1a1.retryRequests as ArtifactName,
    output: artifact('downloads/p1a2.jsonl'),
    batchId: 'batch_b',
  });
  await store.writeAtomic(run, artifact('downloads/p2a1.jsonl'), [answer('r3')]);
  const p2a1 = await classifyAttempt(store, {
    ...base,
    part: 2,
    attempt: 1,
    requests: artifact('parts/part-0002.jsonl'),
    output: artifact('downloads/p2a1.jsonl'),
    batchId: 'batch_c',
  });
  const merged = await mergeResults(store, {
    runId: run,
    parts: [
      {
        part: prepared.parts[0] as PartRef,
        results: [p1a1.results, p1a2.results],
        usage: usage(p1a1.usage.input_tokens + p1a2.usage.input_tokens),
      },
      {
        part: prepared.parts[1] as PartRef,
        results: [p2a1.results],
        usage: p2a1.usage,
      },
    ],
  });
  assert.deepEqual(merged.counts, {
    total: 3,
    succeeded: 3,
    invalid_output: 0,
    failed: 0,
    expired: 0,
    cancelled: 0,
  });
  assert.deepEqual(merged.usage, { input_tokens: 3, output_tokens: 0, total_tokens: 3 });
  const batches: (string | null)[] = [];
  for await (const line of store.readLines(run, artifact('results.jsonl'))) {
    batches.push((JSON.parse(line.text) as ResultLine).batch_id);
  }
  assert.deepEqual(batches, ['batch_a', 'batch_b', 'batch_c']);
});
