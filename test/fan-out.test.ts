import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from '@temporalio/client';
import { budgetFor, costOf } from '../src/pricing.js';
import { groupsOf, shareOf } from '../workflows/group.js';
import type { PartRef } from '../workflows/types.js';
import { eventually } from './helpers/cli.js';
import { recordHistories } from './helpers/histories.js';
import { chatLines, expectedUsageOf } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// A run of more parts than one execution may hold children starts them through groups, in
// levels. Here the width is lowered to a few children so that a suite can see three levels.

const parts = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ index: i + 1 }) as unknown as PartRef);
const sizes = (groups: PartRef[][] | null) => groups?.map((g) => g.length) ?? null;

test('parts are grouped by powers of the width, no level holding more than the width', () => {
  assert.equal(groupsOf(parts(4), 4), null, 'as many as the width: no groups');
  assert.deepEqual(sizes(groupsOf(parts(7), 3)), [3, 3, 1]);
  assert.deepEqual(sizes(groupsOf(parts(30), 4)), [16, 14], 'then 4 groups of 4 in each');
  assert.deepEqual(sizes(groupsOf(parts(3_000), 1_000)), [1_000, 1_000, 1_000]);
  // 100M requests in parts of 50,000: two groups of 1,000 parts under the run.
  assert.deepEqual(sizes(groupsOf(parts(2_000), 1_000)), [1_000, 1_000]);
  const big = groupsOf(parts(1_000_001), 1_000);
  assert.equal(big?.length, 2, 'a million parts: two groups of a million, three levels');
  assert.equal(shareOf(8, 2), 4);
  assert.equal(shareOf(8, 3), 2, 'never more than the run allows in all');
  assert.equal(shareOf(2, 30), 1, 'groups beyond the limit wait their turn');
});

const rig = useRig('fan-out');

/** Child workflows each execution of the run started, by workflow id. */
async function childrenStarted(client: Client, runId: string): Promise<Map<string, number>> {
  const started = new Map<string, number>();
  const ids = [runId];
  for await (const wf of client.workflow.list({ query: `NightshiftRunId = '${runId}'` })) {
    ids.push(wf.workflowId);
  }
  for (const id of ids) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const children = (history.events ?? []).filter(
      (e) => e.startChildWorkflowExecutionInitiatedEventAttributes,
    );
    started.set(id, children.length);
  }
  return started;
}

test('30 parts at width 4 run in three levels: every result in order, no execution over 4 children', async () => {
  const lines = chatLines(60, { prefix: 'f' });
  const run = await rig.submit(lines, {
    id: 'fan-out-30',
    maxRequestsPerBatch: 2,
    maxConcurrentBatches: 8,
    fanOutWidth: 4,
  });
  const summary = await run.wait();
  assert.equal(summary.status, 'completed');
  assert.equal(summary.counts.succeeded, 60);
  assert.equal(summary.batches.length, 30);
  assert.deepEqual(summary.usage, expectedUsageOf(lines));
  const results = await rig.results(run.id);
  assert.deepEqual(
    results.map((r) => r.custom_id),
    lines.map((_, i) => `f-${i + 1}`),
  );
  const progress = await run.progress();
  assert.equal(progress.parts.filter((p) => p.phase === 'done').length, 30);

  const started = await childrenStarted(rig.client, run.id);
  assert.equal(started.get('fan-out-30'), 2, 'the run starts two groups of 16 and 14 parts');
  assert.equal(started.get('fan-out-30-group-1'), 4);
  assert.equal(started.get('fan-out-30-group-2-4'), 2, 'the last group holds parts 29 and 30');
  assert.equal(started.size, 1 + 2 + 8 + 30);
  assert.ok(
    [...started.values()].every((n) => n <= 4),
    'no execution over the width',
  );
});

test('a part in a group asks the run for its budget; a cancel reaches every level', async () => {
  const lines = chatLines(14, { prefix: 'g' });
  const cost = costOf('gpt-4o-mini', expectedUsageOf(lines))?.batch ?? 0;
  // One batch expires half done: its part asks the run, two levels up, to resubmit.
  rig.emulator.addFault({ kind: 'expire_at_fraction', fraction: 0.5, times: 1 });
  const run = await rig.submit(lines, {
    id: 'fan-out-budget',
    maxRequestsPerBatch: 2,
    fanOutWidth: 3,
    budget: budgetFor('gpt-4o-mini', cost * 2) ?? undefined,
  });
  const summary = await run.wait();
  await recordHistories(rig.client, run.id, 'fan-out-groups');
  assert.equal(summary.status, 'completed');
  assert.equal(summary.counts.succeeded, 14);
  assert.equal(summary.batches.length, 8, 'seven parts, one resubmitted');
  assert.deepEqual(summary.budget?.stopped, []);

  const cancelled = await rig.submit(chatLines(40, { prefix: 'h' }), {
    id: 'fan-out-cancel',
    maxRequestsPerBatch: 2,
    maxConcurrentBatches: 4,
    fanOutWidth: 3,
  });
  await eventually('a part done', async () => {
    const { parts } = await cancelled.progress();
    return parts.some((p) => p.phase === 'done') || undefined;
  });
  await cancelled.cancel();
  const end = await cancelled.wait();
  assert.equal(end.status, 'cancelled');
  assert.ok(end.counts.succeeded >= 2 && end.counts.succeeded < 40, `${end.counts.succeeded}`);
  assert.equal(end.counts.succeeded + end.counts.cancelled, 40);
  for await (const wf of rig.client.workflow.list({
    query: `NightshiftRunId = '${cancelled.id}' AND ExecutionStatus = 'Running'`,
  })) {
    assert.fail(`${wf.workflowId} still runs`);
  }
});
