import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { artifactNames } from '../src/artifacts.js';
import { DEFAULT_RUN_OPTIONS } from '../src/client.js';
import { budgetFor, costOf } from '../src/pricing.js';
import type { batchWorkflow } from '../workflows/batch.js';
import { runProgressQuery } from '../workflows/messages.js';
import { NightshiftEndpoint, NightshiftStatus } from '../workflows/search-attributes.js';
import { assertNoDuplicateBatches } from './helpers/assertions.js';
import { recordHistories } from './helpers/histories.js';
import { chatLines, expectedUsageOf } from './helpers/requests.js';
import { FAST, Rig, type RigOptions } from './helpers/rig.js';
import { startDevServer } from './helpers/temporal.js';

// The whole lifecycle on a real Temporal dev server, against the emulator over HTTP.

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

async function withRig<T>(
  name: string,
  fn: (rig: Rig) => Promise<T>,
  options: RigOptions = {},
): Promise<T> {
  const rig = await Rig.start(env, name, options);
  try {
    return await fn(rig);
  } finally {
    await rig.close();
  }
}

test('several parts run in parallel and merge in input order with exact counts and usage', async () => {
  await withRig('happy', async (rig) => {
    const lines = chatLines(250);
    const run = await rig.submit(lines, { id: 'happy-1', maxRequestsPerBatch: 100 });
    const summary = await run.wait();
    await recordHistories(rig.client, run.id);

    assert.equal(summary.status, 'completed');
    assert.deepEqual(summary.counts, {
      total: 250,
      succeeded: 250,
      invalid_output: 0,
      failed: 0,
      expired: 0,
      cancelled: 0,
    });
    assert.deepEqual(summary.batches.map((b) => [b.part, b.attempt, b.status]).sort(), [
      [1, 1, 'completed'],
      [2, 1, 'completed'],
      [3, 1, 'completed'],
    ]);
    const results = await rig.results('happy-1');
    assert.deepEqual(
      results.map((r) => r.custom_id),
      lines.map((l) => JSON.parse(l).custom_id),
      'results are in input order',
    );
    assert.ok(results.every((r) => r.status === 'succeeded' && r.response?.status_code === 200));

    assert.deepEqual(summary.usage, expectedUsageOf(lines));
    assert.ok(summary.cost_usd && summary.cost_usd.batch > 0, 'gpt-4o-mini has a price');
    assert.ok(Math.abs(summary.cost_usd.saved - summary.cost_usd.batch) < 1e-9, 'batch is half');

    const stats = rig.emulator.stats();
    assert.equal(stats.batches.length, 3);
    assert.ok(Object.values(stats.submissions).every((n) => n === 1));
    assertNoDuplicateBatches(stats.batches);

    const progress = await run.handle.query(runProgressQuery);
    assert.equal(progress.status, 'completed');
    assert.equal(progress.parts.length, 3);

    // Nothing the merge read is left behind (parts, downloads, attempts): the run keeps its
    // results and summary.
    for (const name of [...artifactNames.beforeMerge, ...artifactNames.merged]) {
      assert.equal(await rig.store.exists('happy-1', name), false, name);
    }
    assert.ok(await rig.store.exists('happy-1', artifactNames.summary));
  });
});

test('per-line 500s are resubmitted, 400s are final', async () => {
  await withRig('lines', async (rig) => {
    rig.emulator.addFault({ kind: 'line_error', statusCode: 500, lineRate: 0.2, times: 1 });
    const run = await rig.submit(chatLines(100), { id: 'lines-500' });
    const summary = await run.wait();
    await recordHistories(rig.client, run.id);
    assert.equal(summary.status, 'completed');
    assert.equal(summary.counts.succeeded, 100);
    assert.equal(summary.batches.length, 2);
    assert.equal(rig.emulator.stats().batches[1]?.request_counts.total, 20);

    rig.emulator.addFault({ kind: 'line_error', statusCode: 400, lineRate: 0.2, times: 1 });
    const run400 = await rig.submit(chatLines(100, { prefix: 'b' }), { id: 'lines-400' });
    const summary400 = await run400.wait();
    assert.equal(summary400.status, 'partial');
    assert.equal(summary400.counts.failed, 20);
    assert.equal(summary400.counts.succeeded, 80);
    assert.equal(summary400.batches.length, 1, 'a 400 is not worth another attempt');
    const failed = (await rig.results('lines-400')).filter((r) => r.status === 'failed');
    assert.equal(failed.length, 20);
    assert.ok(failed.every((r) => r.response?.status_code === 400));
  });
});

test('a batch failed with token_limit_exceeded is created again after a backoff', async () => {
  await withRig('tokens', async (rig) => {
    rig.emulator.addFault({ kind: 'batch_token_limit', times: 2 });
    const run = await rig.submit(chatLines(30), { id: 'tokens-1' });
    const summary = await run.wait();
    await recordHistories(rig.client, run.id);
    assert.equal(summary.status, 'completed');
    assert.deepEqual(
      summary.batches.map((b) => b.status),
      ['failed', 'failed', 'completed'],
    );
    assertNoDuplicateBatches(rig.emulator.stats().batches);
  });
});

test('more attempts than allowed leave the rest expired and the run partial', async () => {
  await withRig('exhausted', async (rig) => {
    rig.emulator.addFault({ kind: 'expire_at_fraction', fraction: 0.5 });
    const run = await rig.submit(chatLines(40), { id: 'exhausted-1', maxAttempts: 2 });
    const summary = await run.wait();
    await recordHistories(rig.client, run.id);
    assert.equal(summary.status, 'partial');
    assert.equal(summary.counts.succeeded, 30);
    assert.equal(summary.counts.expired, 10);
    const expired = (await rig.results('exhausted-1')).filter((r) => r.status === 'expired');
    assert.ok(expired.every((r) => r.attempts === 2 && r.error?.code === 'batch_expired'));
  });
});

/** Polls the run's progress until `ready` holds (bounded: the emulator is slow on purpose). */
async function progressUntil(
  run: Awaited<ReturnType<Rig['submit']>>,
  ready: (p: Awaited<ReturnType<typeof run.progress>>) => boolean,
) {
  for (let i = 0; i < 300; i++) {
    const p = await run.progress();
    if (ready(p)) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('run never reached the expected progress');
}

const someDone = (p: {
  parts: { providerStatus: string | null; requestCounts: { completed: number } }[];
}) =>
  p.parts.some((part) => part.providerStatus === 'in_progress' && part.requestCounts.completed > 0);

const SLOW: RigOptions = {
  emulator: { timing: { validatingMs: 20, perRequestMs: 40, finalizingMs: 20, cancellingMs: 50 } },
};

for (const how of ['signal', 'temporal-cancel'] as const) {
  test(`cancel by ${how}: provider batches cancelled, partial results written`, async () => {
    await withRig(
      `cancel-${how}`,
      async (rig) => {
        const run = await rig.submit(chatLines(120), {
          id: `cancel-${how}`,
          maxRequestsPerBatch: 60,
        });
        await progressUntil(run, someDone);
        if (how === 'signal') await run.cancel();
        else await run.handle.cancel();
        const summary = await run.wait();
        await recordHistories(rig.client, run.id);

        assert.equal(summary.status, 'cancelled');
        assert.equal(summary.counts.total, 120);
        assert.ok(summary.counts.succeeded > 0, 'finished requests are kept');
        assert.ok(summary.counts.cancelled > 0, 'unfinished requests are cancelled');
        assert.equal(summary.counts.succeeded + summary.counts.cancelled, 120);
        const results = await rig.results(run.id);
        assert.equal(results.length, 120);
        const stats = rig.emulator.stats();
        assert.ok(
          stats.batches.every((b) => b.status === 'cancelled' || b.status === 'completed'),
          'no provider batch is left running',
        );
        assert.equal(stats.calls['batches.create']?.total, 2);
        assertNoDuplicateBatches(stats.batches);
      },
      SLOW,
    );
  });
}

test('a worker stopped mid-wait is replaced and the run finishes without a second batch', async () => {
  await withRig(
    'restart',
    async (rig) => {
      const run = await rig.submit(chatLines(80), { id: 'restart-1' });
      await progressUntil(run, someDone);
      await rig.stopWorker();
      await rig.startWorker();
      const summary = await run.wait();
      await recordHistories(rig.client, run.id);
      assert.equal(summary.status, 'completed');
      assert.equal(summary.counts.succeeded, 80);
      assert.equal(rig.emulator.stats().batches.length, 1);
      assert.equal(rig.emulator.stats().files.filter((f) => f.purpose === 'batch').length, 1);
      assertNoDuplicateBatches(rig.emulator.stats().batches);
    },
    SLOW,
  );
});

test('a batch the provider rejects in validation fails the part with line and message', async () => {
  await withRig('invalid', async (rig) => {
    // Bypasses prepare's own validation: the provider is the last line of defence.
    const line = chatLines(1)[0] ?? '';
    await rig.store.writeAtomic('invalid-1', artifactNames.part(1), [line, line]);
    const handle = await env.client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
      taskQueue: rig.taskQueue,
      workflowId: 'invalid-1-part-1',
      args: [
        {
          runId: 'invalid-1',
          part: { index: 1, artifact: artifactNames.part(1), requests: 2, bytes: 0 },
          endpoint: '/v1/chat/completions',
          options: {
            maxAttempts: 3,
            pollIntervalSeconds: 0.1,
            maxPollIntervalSeconds: 0.5,
            metadata: {},
          },
        },
      ],
    });
    const err = await handle.result().then(
      () => assert.fail('expected the part to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'BatchValidationFailed');
    assert.match(err.cause.message, /line 2: .*duplicate/i);
  });
});

test('runs can be found by their search attributes', async () => {
  await withRig('search', async (rig) => {
    const run = await rig.submit(chatLines(10), { id: 'search-1' });
    await run.wait();
    const find = async (query: string) => {
      const ids = [];
      for await (const wf of env.client.workflow.list({ query })) ids.push(wf.workflowId);
      return ids.sort();
    };
    assert.deepEqual(
      await find(
        `NightshiftStatus = 'completed' AND NightshiftModel = 'gpt-4o-mini' AND NightshiftRunId = 'search-1'`,
      ),
      ['search-1'],
    );
    assert.deepEqual(await find(`NightshiftRunId = 'search-1'`), ['search-1', 'search-1-part-1']);
    const [batch] = rig.emulator.stats().batches;
    assert.deepEqual(await find(`NightshiftBatchIds = '${batch?.id}'`), ['search-1-part-1']);
    const description = await run.handle.describe();
    assert.equal(description.typedSearchAttributes.get(NightshiftEndpoint), '/v1/chat/completions');
  });
});

test('transient API faults on every endpoint, a lost create answer and a cut download', async () => {
  await withRig('faults', async (rig) => {
    const { emulator } = rig;
    // The worst case for money: the batch is created, the answer never arrives.
    emulator.addFault({ endpoint: 'batches.create', kind: 'reset_after', times: 1 });
    emulator.addFault({ endpoint: 'files.content', kind: 'truncate', fraction: 0.5, times: 1 });
    emulator.addFault({ endpoint: '*', kind: 'http_429', rate: 0.1, retryAfterSeconds: 0.05 });
    emulator.addFault({ endpoint: '*', kind: 'http_500', rate: 0.1 });
    emulator.addFault({ endpoint: '*', kind: 'reset', rate: 0.05 });
    const run = await rig.submit(chatLines(150), { id: 'faults-1', maxRequestsPerBatch: 50 });
    const summary = await run.wait();
    await recordHistories(rig.client, run.id);

    assert.equal(summary.status, 'completed');
    assert.equal(summary.counts.succeeded, 150);
    const results = await rig.results('faults-1');
    assert.equal(results.length, 150);
    const stats = emulator.stats();
    assert.equal(stats.batches.length, 3, 'one batch per part, the lost answer included');
    assertNoDuplicateBatches(stats.batches);
    assert.ok(Object.values(stats.submissions).every((n) => n === 1));
    const fired = (kind: string) =>
      stats.faults.filter((f) => f.rule.kind === kind).reduce((n, f) => n + f.fired, 0);
    assert.equal(fired('reset_after'), 1);
    assert.equal(fired('truncate'), 1);
    assert.ok(fired('http_429') + fired('http_500') + fired('reset') > 0, 'faults were injected');
  });
});

test('input that slips past the client is refused by prepare, naming the line; the run is failed', async () => {
  await withRig('badinput', async (rig) => {
    const [good = ''] = chatLines(1);
    const inputPath = await rig.writeInput([good, '{"custom_id": "x", "method": "GET"}']);
    const handle = await env.client.workflow.start('runWorkflow', {
      taskQueue: rig.taskQueue,
      workflowId: 'badinput-1',
      args: [
        {
          inputPath,
          options: { ...DEFAULT_RUN_OPTIONS, ...FAST },
          submittedAt: new Date().toISOString(),
        },
      ],
    });
    const err = await handle.result().then(
      () => assert.fail('expected the run to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    const root = err.cause?.cause;
    assert.ok(root instanceof ApplicationFailure, 'the activity failure carries the reason');
    assert.equal(root.type, 'InvalidInput');
    assert.match(root.message, /requests\.jsonl:2: /);
    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(NightshiftStatus), 'failed');
    assert.equal(rig.emulator.stats().files.length, 0, 'nothing was uploaded');
  });
});

test('a resubmission that would pass the budget is not made, and the summary says why', async () => {
  await withRig('budget', async (rig) => {
    const lines = chatLines(40);
    const budgetFor40 = (share: number) => {
      const cost = costOf('gpt-4o-mini', expectedUsageOf(lines))?.batch ?? 0;
      return budgetFor('gpt-4o-mini', cost * share) ?? undefined;
    };
    // Half expires; the half that ran costs about 50% of the whole, the retry another 50%.
    rig.emulator.addFault({ kind: 'expire_at_fraction', fraction: 0.5, times: 1 });
    const run = await rig.submit(lines, { id: 'budget-tight', budget: budgetFor40(0.75) });
    const summary = await run.wait();
    await recordHistories(rig.client, run.id);
    assert.equal(summary.status, 'partial');
    assert.equal(summary.counts.succeeded, 20);
    assert.equal(summary.counts.expired, 20);
    assert.equal(summary.batches.length, 1, 'nothing was resubmitted');
    assert.equal(summary.budget?.stopped.length, 1);
    assert.match(
      summary.budget?.stopped[0] ?? '',
      /part 1: resubmitting after attempt 1 would cost/,
    );
    assert.ok((summary.budget?.spent_usd ?? 0) <= (summary.budget?.max_usd ?? 0));

    rig.emulator.addFault({ kind: 'expire_at_fraction', fraction: 0.5, times: 1 });
    const roomy = await rig.submit(chatLines(40, { prefix: 'b' }), {
      id: 'budget-roomy',
      budget: budgetFor40(1.5),
    });
    const done = await roomy.wait();
    assert.equal(done.status, 'completed');
    assert.equal(done.batches.length, 2);
    assert.deepEqual(done.budget?.stopped, []);
  });
});
