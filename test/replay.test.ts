import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { workflowBundle } from '../src/workflow-bundle.js';
import { savedHistories, savedScenarios } from './helpers/histories.js';

// Determinism guard: every saved history (runs and their parts, from the lifecycle and
// reliability tests; re-record with `npm run record-histories`) must replay against the current
// workflow code. A change that would break running workflows fails here; guard such changes
// with `patched()`. The last test shows that the guard bites.

// A replay worker per scenario: its state changes at INFO would drown the test runner's output.
Runtime.install({ logger: new DefaultLogger('WARN') });

const scenarios = await savedScenarios();

test('histories are saved for the lifecycle scenarios', () => {
  assert.ok(scenarios.length >= 8, `only ${scenarios.length} scenarios with saved histories`);
});

for (const scenario of scenarios) {
  test(`replays ${scenario}`, async () => {
    const histories = await savedHistories(scenario);
    assert.ok(histories.length > 0);
    const replayed = [];
    const replay = Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories);
    for await (const { workflowId, error } of replay) {
      if (error) throw new Error(`${scenario}/${workflowId}: ${error.message}`, { cause: error });
      replayed.push(workflowId);
    }
    assert.deepEqual(
      replayed,
      histories.map((h) => h.workflowId),
    );
  });
}

/** Today's workflows but for a change to the part workflow made without `patched()`. */
const UNPATCHED_CHANGE = fileURLToPath(new URL('./workflows/unpatched-change.js', import.meta.url));

test('a workflow change made without patched() fails replay with a DeterminismViolationError', async () => {
  const changed = await bundleWorkflowCode({
    workflowsPath: UNPATCHED_CHANGE,
    logger: new DefaultLogger('WARN'),
  });
  const histories = await savedHistories('0.1.0/happy-1');
  const run = histories.find((h) => h.workflowId === 'happy-1');
  const part = histories.find((h) => h.workflowId === 'happy-1-part-1');
  assert.ok(run && part);
  // The run workflow is the same in that bundle: its history replays, so the bundle itself works.
  await Worker.runReplayHistory({ workflowBundle: changed }, run.history, run.workflowId);
  // The part's first command is now the new timer, where its history scheduled an activity.
  await assert.rejects(
    Worker.runReplayHistory({ workflowBundle: changed }, part.history, part.workflowId),
    (err) =>
      err instanceof DeterminismViolationError && /Timer .*ActivityTaskScheduled/.test(err.message),
  );
});
