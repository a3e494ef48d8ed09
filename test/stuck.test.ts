import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partWorkflowId } from '../workflows/ids.js';
import { partProgressQuery } from '../workflows/messages.js';
import { DEFAULT_STUCK_AFTER_SECONDS, statusSince, stuckBatch } from '../workflows/stuck.js';
import type { PartProgress } from '../workflows/types.js';
import { eventually, runCli } from './helpers/cli.js';
import { chatLines } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

test('a batch is stuck once its passing state outlasts the threshold, and only such states', () => {
  const seen = statusSince(null, 'finalizing', 1_000);
  assert.equal(statusSince(seen, 'finalizing', 9_000), seen, 'the same state keeps its start');
  assert.deepEqual(statusSince(seen, 'completed', 9_000), { status: 'completed', at: 9_000 });
  assert.equal(stuckBatch(seen, 1_000 + 59 * 60_000), null, 'under the default hour');
  assert.deepEqual(stuckBatch(seen, 1_000 + DEFAULT_STUCK_AFTER_SECONDS.finalizing * 1000), {
    status: 'finalizing',
    since: new Date(1_000).toISOString(),
    seconds: 3600,
  });
  assert.equal(stuckBatch(seen, 11_000, { finalizing: 10 })?.seconds, 10, 'a threshold of its own');
  const running = statusSince(null, 'in_progress', 0);
  assert.equal(stuckBatch(running, 10 * 86_400_000), null, 'in progress is never stuck');
});

const rig = useRig('stuck');

test('a batch held in finalizing is flagged stuck in status and the UI, then completes', async () => {
  rig.emulator.addFault({ kind: 'stuck_finalizing', delayMs: 5_000, times: 1 });
  const run = await rig.submit(chatLines(5, { prefix: 'stuck' }), {
    id: 'stuck-1',
    stuckAfterSeconds: { finalizing: 1 },
  });
  const part = rig.client.workflow.getHandle(partWorkflowId(run.id, 1));
  const stuck = await eventually(
    'the part flagged stuck',
    async () => {
      // The part's workflow starts once the run has prepared it.
      const progress: PartProgress | null = await part.query(partProgressQuery).catch(() => null);
      return progress?.stuck;
    },
    20_000,
  );
  assert.equal(stuck.status, 'finalizing');
  assert.ok(stuck.seconds >= 1);

  const status = await runCli(['status', run.id, '--json'], rig.cliEnv());
  assert.equal(status.code, 0, status.stderr);
  const [shown] = (JSON.parse(status.stdout) as { parts: PartProgress[] }).parts;
  assert.equal(shown?.stuck?.status, 'finalizing');
  const text = await runCli(['status', run.id], rig.cliEnv());
  assert.match(text.stdout, /finalizing STUCK \d+s/);
  const { currentDetails } = await part.query<{ currentDetails: string }>(
    '__temporal_workflow_metadata',
  );
  assert.match(currentDetails, /\*\*stuck\*\* in finalizing since /);

  const summary = await run.wait();
  assert.equal(summary.status, 'completed', 'a stuck batch is flagged, not given up on');
});
