import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { workflowBundle } from '../src/worker.js';
import { savedHistories, savedScenarios } from './helpers/histories.js';

// Determinism guard: every saved history (runs and their parts, from the lifecycle and
// reliability tests; re-record with `npm run record-histories`) must replay against the current
// workflow code. A change that would break running workflows fails here; guard such changes
// with `patched()`.

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
