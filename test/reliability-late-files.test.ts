import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import type { FaultRule } from '../src/emulator/index.js';
import type { RunProgress } from '../workflows/types.js';
import { assertRunIntegrity, batchesOf, countStatuses } from './helpers/assertions.js';
import { eventually } from './helpers/cli.js';
import { activityRetries, recordHistories } from './helpers/histories.js';
import { scenarios, untilDone } from './helpers/reliability.js';
import { chatLines, idsOf } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// Providers publish a batch's terminal status a read or two before its output and error file
// ids (BerriAI/litellm#37713). A run must wait for the files: collecting early resubmits, and
// pays again for, what the provider already finished; downloading from the stale read retries
// a download that cannot succeed.

const scenario = scenarios('result files published after the status');

const rig = useRig('reliability-late-files', { worker: 'process' });

/** Every batch of the run hides its file ids from its first two reads once it has ended. */
const LATE_FILES: FaultRule = { kind: 'late_file_ids', reads: 2 };

async function withFaults(rules: FaultRule[]) {
  rig.emulator.clearFaults();
  for (const rule of rules) rig.emulator.addFault(rule);
}

async function start(id: string, n: number, maxRequestsPerBatch = n) {
  const lines = chatLines(n, { prefix: id });
  return { run: await rig.submit(lines, { id, maxRequestsPerBatch }), lines };
}

/** Submissions per custom_id of the run beyond the first: what was paid for again. */
function resent(ids: string[]): number {
  const { submissions } = rig.emulator.stats();
  return ids.reduce((n, id) => n + Math.max(0, (submissions[id] ?? 0) - 1), 0);
}

scenario(
  'completed batches whose first two reads have no file ids',
  'late_file_ids (2 reads) on every batch; 150 requests in 3 parts',
  async () => {
    await withFaults([LATE_FILES]);
    const { run, lines } = await start('late-completed', 150, 50);
    const summary = await untilDone(run, rig.workerProcess);
    assert.equal(summary.status, 'completed');
    const results = await rig.results(run.id);
    assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(lines), results);
    assert.deepEqual(countStatuses(results), { succeeded: 150 });
    assert.equal(resent(idsOf(lines)), 0, 'no request submitted twice');
    assert.equal(await activityRetries(rig.client, run.id), 0, 'no activity retried');
    assert.equal(rig.emulator.stats().faults[0]?.fired, 3, 'each batch hid its files');
    return { runs: 1, note: '150 succeeded in 3 batches, none resent, no activity retried' };
  },
);

scenario(
  'expired batches (partial output) whose first two reads have no file ids',
  'expire_at_fraction 0.6 on attempt 1 and late_file_ids (2 reads); 150 requests in 3 parts',
  async () => {
    await withFaults([{ kind: 'expire_at_fraction', fraction: 0.6, attempts: [1] }, LATE_FILES]);
    const { run, lines } = await start('late-expired', 150, 50);
    const summary = await untilDone(run, rig.workerProcess);
    await recordHistories(rig.client, run.id);
    assert.equal(summary.status, 'completed');
    const results = await rig.results(run.id);
    assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(lines), results);
    assert.deepEqual(countStatuses(results), { succeeded: 150 });
    assert.deepEqual(
      batchesOf(rig.emulator.stats(), run.id)
        .map((b) => [b.status, b.request_counts.total])
        .sort(),
      [...Array(3).fill(['completed', 20]), ...Array(3).fill(['expired', 50])],
      'attempt 2 carries only the 40% each expired batch left',
    );
    assert.equal(resent(idsOf(lines)), 60, 'only the 60 unfinished requests were sent again');
    assert.equal(await activityRetries(rig.client, run.id), 0, 'no activity retried');
    return { runs: 1, note: '90 done in attempt 1, only the other 60 resent' };
  },
);

scenario(
  'a cancelled batch whose first two reads have no file ids',
  'cancel signal while the batch runs; late_file_ids (2 reads)',
  async () => {
    await withFaults([LATE_FILES]);
    const { run, lines } = await start('late-cancelled', 400);
    await eventually('requests done', () =>
      batchesOf(rig.emulator.stats(), run.id).some(
        (b) => b.status === 'in_progress' && b.request_counts.completed > 0,
      )
        ? true
        : undefined,
    );
    await run.cancel();
    const summary = await untilDone(run, rig.workerProcess);
    assert.equal(summary.status, 'cancelled');
    const results = await rig.results(run.id);
    assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(lines), results);
    const [batch] = batchesOf(rig.emulator.stats(), run.id);
    assert.equal(batch?.status, 'cancelled');
    const done = batch?.request_counts.completed ?? 0;
    assert.ok(done > 0 && done < 400, `${done} finished before the cancel`);
    assert.deepEqual(
      countStatuses(results),
      { succeeded: done, cancelled: 400 - done },
      'every request the provider finished is kept as succeeded',
    );
    assert.equal(resent(idsOf(lines)), 0);
    assert.equal(await activityRetries(rig.client, run.id), 0, 'no activity retried');
    return { runs: 1, note: `${done} succeeded before the cancel, kept; none resent` };
  },
);

scenario(
  'result files that never appear: the part fails with a clear error, no hang',
  'late_file_ids (1,000 reads); the run allows 3 s of waiting for them',
  async () => {
    await withFaults([{ kind: 'late_file_ids', reads: 1000 }]);
    const run = await rig.submit(chatLines(20, { prefix: 'late-never' }), {
      id: 'late-never',
      maxFilesWaitSeconds: 3,
    });
    const seen = await eventually('the part waiting for its files', async () => {
      const progress: RunProgress = await run.progress();
      return progress.parts[0]?.phase === 'awaiting-files' ? progress.parts[0] : undefined;
    });
    assert.equal(seen.providerStatus, 'completed');
    const failure = await untilDone(run, rig.workerProcess).then(
      () => assert.fail('the run must fail'),
      (err: unknown) => err,
    );
    assert.ok(failure instanceof WorkflowFailedError, String(failure));
    const { cause } = failure;
    const message = String((cause?.cause as Error | undefined)?.message ?? cause?.message);
    assert.match(message, /ended completed with 20 results, but the provider has published no/);
    const summary = await run.summary();
    assert.equal(summary?.status, 'failed');
    assert.equal(rig.emulator.stats().submissions['late-never-1'], 1, 'nothing resent');
    return { runs: 1, note: `run failed: ${message.split(': ').slice(1).join(': ')}` };
  },
);
