import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Run } from '../src/client.js';
import type { FaultRule } from '../src/emulator/index.js';
import {
  assertNoBatchLeftRunning,
  assertNoProviderFilesLeft,
  assertRunIntegrity,
  batchesOf,
  countStatuses,
  faultFired,
} from './helpers/assertions.js';
import { eventually, runCli, spawnCli } from './helpers/cli.js';
import { recordHistories } from './helpers/histories.js';
import { scenarios } from './helpers/reliability.js';
import { chatLines, idsOf } from './helpers/requests.js';
import { TIMING, useRig } from './helpers/rig.js';

// Cancels at awkward moments, and two clients racing to start the same run.

const scenario = scenarios('cancellation races and duplicate submits');

const rig = useRig('reliability-cancel', {
  worker: 'process',
  // A finalizing phase long enough to be seen, so a cancel can land inside it.
  emulator: { timing: { ...TIMING, finalizingMs: 400 } },
});

async function start(runId: string, n: number, faults: FaultRule[] = [], perBatch = 1_000) {
  rig.emulator.clearFaults();
  const faultIds = faults.map((rule) => rig.emulator.addFault(rule));
  const lines = chatLines(n, { prefix: runId });
  const run = await rig.submit(lines, { id: runId, maxRequestsPerBatch: perBatch });
  return { run, lines, faultIds };
}

/** The end state every cancel must leave: whole results, nothing running or left at the provider. */
async function settled(run: Run, lines: string[]) {
  const summary = await run.wait();
  const results = await rig.results(run.id);
  const stats = rig.emulator.stats();
  assertRunIntegrity(stats, run.id, idsOf(lines), results);
  assertNoBatchLeftRunning(stats, run.id);
  assertNoProviderFilesLeft(stats, run.id);
  const counts = countStatuses(results);
  assert.equal(summary.counts.succeeded, counts.succeeded ?? 0);
  assert.equal(summary.counts.cancelled, counts.cancelled ?? 0);
  assert.ok(
    results.every((r) => (r.status === 'succeeded') === (r.response?.status_code === 200)),
    'a line is succeeded exactly when it carries a 200 response',
  );
  return { summary, results, counts };
}

scenario(
  'cancel racing completion',
  'cancel signal when every request is done at the provider (finalizing / completed), 3 runs',
  async () => {
    const notes: string[] = [];
    for (const [i, moment] of ['finalizing', 'completed', 'completed-poll'].entries()) {
      const { run, lines } = await start(`race-${i + 1}`, 60);
      await eventually(`batch ${moment}`, () =>
        batchesOf(rig.emulator.stats(), run.id).some((b) => moment.startsWith(b.status))
          ? true
          : undefined,
      );
      await run.cancel();
      const { summary, counts } = await settled(run, lines);
      assert.ok(['completed', 'cancelled'].includes(summary.status), summary.status);
      // The provider finished every request before the cancel: none of them may be lost.
      assert.deepEqual(counts, { succeeded: 60 });
      notes.push(`${moment}: run ${summary.status}`);
      if (i === 0) await recordHistories(rig.client, run.id, 'cancel-race');
    }
    return { runs: 3, note: `${notes.join('; ')}; all 60 succeeded each time` };
  },
);

scenario(
  'cancel during upload',
  'slow files.create (2 s); cancel signal while the upload is in flight',
  async () => {
    const { run, lines, faultIds } = await start('cancel-upload', 50, [
      { endpoint: 'files.create', kind: 'slow', delayMs: 2_000, times: 1 },
    ]);
    await eventually('upload in flight', () =>
      faultFired(rig.emulator, faultIds[0] ?? '') > 0 ? true : undefined,
    );
    await run.cancel();
    const { summary, counts } = await settled(run, lines);
    await recordHistories(rig.client, run.id);
    // Nothing was running at the provider when the cancel came: nothing may start there, since
    // whatever it processes before a late cancel lands is billed.
    assert.deepEqual(
      batchesOf(rig.emulator.stats(), run.id).map(
        (b) => `${b.status} ${b.request_counts.completed}`,
      ),
      [],
      'a batch was created after the run was cancelled',
    );
    assert.equal(summary.status, 'cancelled');
    assert.deepEqual(counts, { cancelled: 50 });
    return { runs: 1 };
  },
);

scenario(
  'cancel twice',
  'cancel signal, a second signal and a Temporal cancel while 2 batches run',
  async () => {
    const cancelsBefore = rig.emulator.stats().calls['batches.cancel']?.total ?? 0;
    const { run, lines } = await start('cancel-twice', 400, [], 200);
    await eventually('requests done', () =>
      batchesOf(rig.emulator.stats(), run.id).filter(
        (b) => b.status === 'in_progress' && b.request_counts.completed > 0,
      ).length === 2
        ? true
        : undefined,
    );
    await Promise.all([run.cancel(), run.cancel(), run.handle.cancel()]);
    const { summary, counts } = await settled(run, lines);
    await recordHistories(rig.client, run.id);
    assert.equal(summary.status, 'cancelled');
    assert.ok((counts.succeeded ?? 0) > 0 && (counts.cancelled ?? 0) > 0, JSON.stringify(counts));
    const cancels = (rig.emulator.stats().calls['batches.cancel']?.total ?? 0) - cancelsBefore;
    assert.equal(cancels, 2, 'each provider batch cancelled once');
    return { runs: 1, note: `${JSON.stringify(counts)}; ${cancels} provider cancels` };
  },
);

scenario(
  'cancel of a finished run',
  '`nightshift cancel` (and a signal) after the run completed',
  async () => {
    const { run, lines } = await start('cancel-finished', 20);
    await run.wait();
    const summaryPath = join(rig.home, 'runs', run.id, 'summary.json');
    const before = await readFile(summaryPath, 'utf8');
    const calls = JSON.stringify(rig.emulator.stats().calls);
    const cli = await runCli(['cancel', run.id], rig.cliEnv());
    await run.cancel().catch(() => {});
    assert.equal(await readFile(summaryPath, 'utf8'), before, 'summary.json untouched');
    assert.equal(JSON.stringify(rig.emulator.stats().calls), calls, 'no provider call');
    const { summary, counts } = await settled(run, lines);
    assert.equal(summary.status, 'completed');
    assert.deepEqual(counts, { succeeded: 20 });
    return {
      runs: 1,
      note: `run stays completed; CLI exit ${cli.code}: ${cli.stderr.trim().split('\n')[0]}`,
    };
  },
);

scenario(
  'duplicate submits with the same --id from two processes at once',
  'two `nightshift submit --id dup-1` started together',
  async () => {
    const lines = chatLines(60, { prefix: 'dup' });
    const input = await rig.writeInput(lines, 'dup.jsonl');
    const args = ['submit', input, '--id', 'dup-1', '--poll-interval', '0.1'];
    const [a, b] = await Promise.all([
      spawnCli([...args, '--max-requests-per-batch', '20'], rig.cliEnv()).exited,
      spawnCli([...args, '--max-requests-per-batch', '30'], rig.cliEnv()).exited,
    ]);
    assert.equal(a?.code, 0, a?.stderr);
    assert.equal(b?.code, 0, b?.stderr);
    const started = [a, b].filter((r) => /started run dup-1/.test(r.stderr)).length;
    const refused = [a, b].filter((r) => /already exists/.test(r.stderr)).length;
    assert.deepEqual([started, refused], [1, 1]);
    const executions = [];
    for await (const wf of rig.client.workflow.list({ query: `WorkflowId = 'dup-1'` })) {
      executions.push(wf.runId);
    }
    assert.equal(executions.length, 1, 'one workflow execution');
    const run = rig.nightshift.run('dup-1');
    const { counts } = await settled(run, lines);
    assert.deepEqual(counts, { succeeded: 60 });
    const parts = batchesOf(rig.emulator.stats(), 'dup-1').length;
    assert.ok(parts === 3 || parts === 2, `one set of batches (${parts})`);
    return { runs: 1, note: `1 started, 1 "already exists"; ${parts} batches` };
  },
);
