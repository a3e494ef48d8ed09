import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { doneInPart, progressLine } from '../src/commands/progress.js';
import type { PartProgress, RunProgress } from '../workflows/types.js';
import { chatLines } from './helpers/requests.js';
import { Rig } from './helpers/rig.js';
import { startDevServer } from './helpers/temporal.js';

// The progress `submit --wait` and `status` show: the count of requests done only grows, even
// when first attempts expire and their leftovers are resubmitted (issue 19).

/** A part's progress as the batch workflow reports it, from the defaults of a pending part. */
function part(changes: Partial<PartProgress>): PartProgress {
  return {
    part: 1,
    requests: 500,
    phase: 'pending',
    attempt: 1,
    batchId: null,
    providerStatus: null,
    requestCounts: { total: 0, completed: 0, failed: 0 },
    counts: { succeeded: 0, invalid_output: 0, failed: 0, expired: 0, cancelled: 0 },
    ...changes,
  };
}

test('a part whose first batch expires at 60%: done only grows through its second attempt', () => {
  const first = { batchId: 'batch_1', providerStatus: 'expired' as const };
  const expiredCounts = { total: 500, completed: 300, failed: 0 };
  const after1 = { succeeded: 300, invalid_output: 0, failed: 0, expired: 0, cancelled: 0 };
  // Every state a query can see, in order: the last batch's counts linger into attempt 2 until
  // its own batch is polled.
  const sequence = [
    part({}),
    part({ phase: 'uploading' }),
    part({ phase: 'waiting', batchId: 'batch_1' }),
    part({
      phase: 'waiting',
      ...first,
      providerStatus: 'in_progress',
      requestCounts: { total: 500, completed: 150, failed: 0 },
    }),
    part({ phase: 'downloading', ...first, requestCounts: expiredCounts }),
    part({
      phase: 'uploading',
      attempt: 2,
      ...first,
      requestCounts: expiredCounts,
      counts: after1,
    }),
    part({ phase: 'creating', attempt: 2, ...first, requestCounts: expiredCounts, counts: after1 }),
    part({
      phase: 'waiting',
      attempt: 2,
      batchId: 'batch_2',
      providerStatus: 'expired',
      requestCounts: expiredCounts,
      counts: after1,
    }),
    part({
      phase: 'waiting',
      attempt: 2,
      batchId: 'batch_2',
      providerStatus: 'validating',
      counts: after1,
    }),
    part({
      phase: 'waiting',
      attempt: 2,
      batchId: 'batch_2',
      providerStatus: 'in_progress',
      requestCounts: { total: 200, completed: 50, failed: 3 },
      counts: after1,
    }),
    part({
      phase: 'downloading',
      attempt: 2,
      batchId: 'batch_2',
      providerStatus: 'completed',
      requestCounts: { total: 200, completed: 190, failed: 10 },
      counts: after1,
    }),
    part({
      phase: 'done',
      attempt: 2,
      batchId: 'batch_2',
      providerStatus: 'completed',
      requestCounts: { total: 200, completed: 190, failed: 10 },
      counts: { ...after1, succeeded: 490, invalid_output: 0, failed: 10 },
    }),
  ];
  assert.deepEqual(
    sequence.map(doneInPart),
    [0, 0, 0, 150, 300, 300, 300, 300, 300, 350, 490, 500],
  );

  const run = (parts: PartProgress[]): RunProgress => ({
    runId: 'r',
    status: 'running',
    cancelRequested: false,
    total: 1250,
    endpoint: '/v1/chat/completions',
    model: 'gpt-4o-mini',
    parts,
  });
  // The moment of the report: two parts creating their second batch, one uploading.
  const line = progressLine(
    run([
      sequence[6] as PartProgress,
      { ...(sequence[6] as PartProgress), part: 2 },
      part({
        part: 3,
        requests: 250,
        phase: 'uploading',
        attempt: 2,
        requestCounts: { total: 250, completed: 150, failed: 0 },
        counts: { ...after1, succeeded: 150 },
      }),
    ]),
  );
  assert.equal(line.done, 750);
  assert.equal(line.text, 'running — parts: 2 creating, 1 uploading — attempt 2: 500 left');

  // Requests the cache answered are done from the start, and said so.
  const cached = progressLine({ ...run([part({ part: 1, requests: 250 })]), cached: 1000 });
  assert.equal(cached.done, 1000);
  assert.equal(cached.text, 'running — 1000 from the cache — parts: 1 pending');
});

test('a 3-part run whose first attempts expire at 60%: the count shown never goes back', async () => {
  const env = await startDevServer();
  const stack = await Rig.start(env, 'progress', {
    // A second per 100 requests: slow enough to watch each part's batches.
    emulator: {
      timing: { validatingMs: 20, perRequestMs: 10, finalizingMs: 20, cancellingMs: 20 },
    },
  });
  try {
    stack.emulator.addFault({ kind: 'expire_at_fraction', fraction: 0.6, attempts: [1] });
    const run = await stack.submit(chatLines(300), {
      id: 'progress-expiry',
      maxRequestsPerBatch: 100,
    });
    const lines: { done: number; text: string }[] = [];
    let ended = false;
    const result = run.wait().finally(() => {
      ended = true;
    });
    while (!ended) {
      lines.push(progressLine(await run.progress()));
      await delay(25);
    }
    lines.push(progressLine(await run.progress()));
    const summary = await result;

    assert.equal(summary.counts.succeeded, 300);
    assert.ok(summary.batches.some((b) => b.attempt === 2));
    const counts = lines.map((l) => l.done);
    counts.forEach((n, i) => {
      assert.ok(
        i === 0 || n >= (counts[i - 1] as number),
        `went back at ${i}: ${counts.join(' ')}`,
      );
    });
    assert.equal(counts.at(-1), 300);
    const retrying = lines.filter((l) => /attempt 2: \d+ left/.test(l.text));
    assert.ok(retrying.length > 0, lines.map((l) => `${l.done} ${l.text}`).join('\n'));
    // What is left in attempt 2 is what is not done yet.
    for (const l of retrying) {
      const left = [...l.text.matchAll(/attempt \d+: (\d+) left/g)].reduce(
        (s, m) => s + Number(m[1]),
        0,
      );
      assert.ok(left <= 300 - l.done, `${l.done} ${l.text}`);
    }
  } finally {
    await stack.close();
    await env.teardown();
  }
});
