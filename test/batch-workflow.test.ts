import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { DeleteFilesInput } from '../activities/batches.js';
import type { NightshiftActivities } from '../activities/index.js';
import { workflowBundle } from '../src/workflow-bundle.js';
import type { BatchWorkflowInput, batchWorkflow } from '../workflows/batch.js';
import type { BatchStatus } from '../workflows/contract.js';
import type { BatchSnapshot, ClassifyInput } from '../workflows/types.js';
import { artifact } from './helpers/names.js';
import { startTimeSkippingServer } from './helpers/temporal.js';

// The batch workflow's waiting, on the time-skipping server with stand-in activities: a
// "24-hour" batch passes in well under a second per day of waiting.

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkippingServer();
});
after(async () => {
  await env?.teardown();
});

const DAY_S = 24 * 3600;

function fakeActivities(pollsUntilDone: number) {
  const calls = {
    polls: 0,
    creates: 0,
    uploads: 0,
    classify: [] as ClassifyInput[],
    deletes: [] as DeleteFilesInput[],
  };
  const snapshot = (status: BatchStatus): BatchSnapshot => ({
    id: 'batch_1',
    status,
    requestCounts: { total: 10, completed: status === 'completed' ? 10 : 1, failed: 0 },
    outputFileId: status === 'completed' ? 'file_out' : null,
    errorFileId: null,
    errors: [],
  });
  const activities: Partial<NightshiftActivities> = {
    async upload() {
      calls.uploads++;
      return 'file_1';
    },
    async createBatch() {
      calls.creates++;
      return 'batch_1';
    },
    async pollBatch() {
      calls.polls++;
      return snapshot(calls.polls > pollsUntilDone ? 'completed' : 'in_progress');
    },
    async download() {
      return { output: artifact('downloads/out.jsonl'), errors: null };
    },
    async classify(input: ClassifyInput) {
      calls.classify.push(input);
      return {
        results: artifact('results/part-0001.attempt-1.jsonl'),
        counts: { succeeded: 10, invalid_output: 0, failed: 0, expired: 0, cancelled: 0 },
        retry: 0,
        retryRequests: null,
        usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 },
      };
    },
    async deleteProviderFiles(input: DeleteFilesInput) {
      calls.deletes.push(input);
      return [];
    },
  };
  return { calls, activities };
}

const input = (maxHistoryEvents?: number, maxPollIntervalSeconds = 600): BatchWorkflowInput => ({
  runId: 'run-ts',
  part: { index: 1, artifact: artifact('parts/part-0001.jsonl'), requests: 10, bytes: 100 },
  endpoint: '/v1/chat/completions',
  options: {
    maxAttempts: 3,
    pollIntervalSeconds: 60,
    maxPollIntervalSeconds,
    metadata: {},
  },
  maxHistoryEvents,
});

async function withWorker<T>(
  taskQueue: string,
  activities: Partial<NightshiftActivities>,
  fn: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
  return worker.runUntil(fn());
}

test('a batch that takes 24 hours is waited for with a few dozen polls, in skipped time', async () => {
  // The interval doubles from 60 s to its 1-hour cap while nothing changes: 30 polls span a day.
  const { calls, activities } = fakeActivities(30);
  const started = await env.currentTimeMs();
  const outcome = await withWorker('ts-day', activities, () =>
    env.client.workflow.execute<typeof batchWorkflow>('batchWorkflow', {
      taskQueue: 'ts-day',
      workflowId: 'ts-day',
      args: [input(undefined, 3600)],
    }),
  );
  const elapsedS = ((await env.currentTimeMs()) - started) / 1000;
  assert.ok(elapsedS >= DAY_S, `skipped ${elapsedS}s, expected at least a day`);
  assert.equal(calls.polls, 31);
  assert.equal(calls.creates, 1);
  assert.equal(calls.uploads, 1);
  assert.deepEqual(
    calls.deletes.map((d) => [d.inputFileId, d.batchId]),
    [['file_1', 'batch_1']],
    'the upload and the batch files are deleted once classified',
  );
  assert.deepEqual(outcome.counts, {
    succeeded: 10,
    invalid_output: 0,
    failed: 0,
    expired: 0,
    cancelled: 0,
  });
  assert.deepEqual(
    outcome.batches.map((b) => [b.batch_id, b.status]),
    [['batch_1', 'completed']],
  );
});

test('a long wait continues as new with its state and still creates one batch', async () => {
  const { calls, activities } = fakeActivities(120);
  const handle = await env.client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
    taskQueue: 'ts-can',
    workflowId: 'ts-can',
    args: [input(200)],
  });
  const outcome = await withWorker('ts-can', activities, () => handle.result());
  assert.equal(calls.creates, 1, 'continue-as-new must not create the batch again');
  assert.equal(calls.uploads, 1);
  assert.equal(outcome.results.length, 1);
  const first = await env.client.workflow.getHandle('ts-can', handle.firstExecutionRunId);
  const history = await first.fetchHistory();
  const last = history.events?.at(-1);
  assert.ok(last?.workflowExecutionContinuedAsNewEventAttributes, 'first run continued as new');
  assert.ok((history.events?.length ?? 0) < 260, 'each run of the chain stays near the bound');
  const latest = await handle.describe();
  assert.notEqual(latest.runId, handle.firstExecutionRunId);
});

/** A batch that ends at its first poll, whose output file id shows from read `filesAtRead` on. */
function lateFilesActivities(filesAtRead: number) {
  const { calls, activities } = fakeActivities(0);
  activities.pollBatch = async () => {
    calls.polls++;
    return {
      id: 'batch_1',
      status: 'completed',
      requestCounts: { total: 10, completed: 10, failed: 0 },
      outputFileId: calls.polls >= filesAtRead ? 'file_out' : null,
      errorFileId: null,
      errors: [],
    };
  };
  return { calls, activities };
}

test('an ended batch without its result files is read again until they appear', async () => {
  const { calls, activities } = lateFilesActivities(4);
  const outcome = await withWorker('ts-late-files', activities, () =>
    env.client.workflow.execute<typeof batchWorkflow>('batchWorkflow', {
      taskQueue: 'ts-late-files',
      workflowId: 'ts-late-files',
      args: [input()],
    }),
  );
  assert.equal(calls.polls, 4, 'three reads without files, then the one with them');
  assert.equal(calls.classify.length, 1);
  assert.equal(calls.classify[0]?.batchStatus, 'completed');
  assert.deepEqual(outcome.counts, {
    succeeded: 10,
    invalid_output: 0,
    failed: 0,
    expired: 0,
    cancelled: 0,
  });
});

test('result files that never appear fail the part after an hour of backed-off reads', async () => {
  const { calls, activities } = lateFilesActivities(Number.POSITIVE_INFINITY);
  const started = await env.currentTimeMs();
  const failure = await withWorker('ts-no-files', activities, () =>
    env.client.workflow
      .execute<typeof batchWorkflow>('batchWorkflow', {
        taskQueue: 'ts-no-files',
        workflowId: 'ts-no-files',
        args: [input()],
      })
      .then(
        () => assert.fail('the part must fail'),
        (err: Error) => err,
      ),
  );
  const elapsedS = ((await env.currentTimeMs()) - started) / 1000;
  const cause = (failure as { cause?: { message?: string; type?: string } }).cause;
  assert.equal(cause?.type, 'ResultFilesMissing');
  assert.match(cause?.message ?? '', /batch_1 ended completed with 10 results.*no result file/);
  assert.ok(elapsedS >= 3600, `failed after ${elapsedS}s, expected the 1-hour bound`);
  // 60 s doubling to the 600 s cap: 60+120+240+480+600×4 ≥ 3,600 s in 9 reads.
  assert.equal(calls.polls, 10);
  assert.equal(calls.classify.length, 0, 'nothing collected from a batch without its files');
});
