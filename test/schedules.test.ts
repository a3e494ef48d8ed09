import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunSummary } from '../workflows/types.js';
import { eventually, runCli } from './helpers/cli.js';
import { recordHistories } from './helpers/histories.js';
import { chatLines } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// Schedules on a real Temporal dev server: every firing reads its input afresh and runs it.
// Firings come from `schedule trigger` (the cron is far away), but for one test of a cron that
// fires on its own, within a minute.

const rig = useRig('schedules');
const cli = (...args: string[]) => runCli(args, rig.cliEnv());

/** The runs a schedule's firings started, oldest first, once `n` of them exist. */
async function firings(name: string, n: number, timeoutMs = 30_000): Promise<string[]> {
  return eventually(
    `${n} firings of ${name}`,
    async () => {
      const { info } = await rig.client.schedule.getHandle(name).describe();
      const ids = info.recentActions.map((a) => a.action.workflow.workflowId);
      return ids.length >= n ? ids : undefined;
    },
    timeoutMs,
  );
}

const summaryOf = (workflowId: string) =>
  rig.client.workflow.getHandle(workflowId).result() as Promise<RunSummary>;

test('a schedule fires runs named after it that read their input afresh', async () => {
  const input = join(rig.home, 'nightly.jsonl');
  await writeFile(input, `${chatLines(3, { prefix: 'n1' }).join('\n')}\n`);
  const created = await cli(
    'schedule',
    'create',
    'nightly',
    input,
    '--cron',
    '0 2 1 1 *',
    '--poll-interval',
    '0.1',
    '--no-cache',
    '--deadline',
    '1h',
  );
  assert.equal(created.code, 0, created.stderr);
  assert.match(
    created.stderr,
    /created schedule nightly: "0 2 1 1 \*" \(UTC\), next run \d{4}-01-01T02:00:00/,
  );

  assert.equal((await cli('schedule', 'trigger', 'nightly')).code, 0);
  const [first] = await firings('nightly', 1);
  const summary1 = await summaryOf(first as string);
  assert.equal(summary1.status, 'completed');
  assert.equal(summary1.counts.total, 3);
  assert.match(summary1.run_id, /^nightly-\d{4}-\d\d-\d\dT\d{6}Z$/);
  // A duration counts from each firing, not from the schedule's creation.
  const due = Date.parse(summary1.deadline?.at ?? '') - Date.parse(summary1.started_at);
  assert.ok(Math.abs(due - 3_600_000) < 60_000, `deadline ${summary1.deadline?.at}`);
  assert.equal(summary1.deadline?.met, true);
  await recordHistories(rig.client, summary1.run_id, 'schedule-nightly', [first as string]);
  const status = await cli('status', summary1.run_id);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /completed/);

  // The file changed between firings: the next run has the new lines.
  await writeFile(input, `${chatLines(5, { prefix: 'n2' }).join('\n')}\n`);
  await new Promise((r) => setTimeout(r, 1100)); // firings are named by the second
  assert.equal((await cli('schedule', 'trigger', 'nightly')).code, 0);
  const [, second] = await firings('nightly', 2);
  assert.equal((await summaryOf(second as string)).counts.total, 5);

  const described = await cli('schedule', 'describe', 'nightly');
  assert.equal(described.code, 0, described.stderr);
  assert.match(described.stdout, /cron {7}"0 2 1 1 \*" \(UTC\)/);
  assert.match(described.stdout, new RegExp(`run {8}${summary1.run_id} .* completed`));
  const listed = await cli('schedule', 'list');
  assert.match(listed.stdout, /^nightly {2}active {2}"0 2 1 1 \*" UTC {2}next /m);
});

test('a firing while the last run still runs is skipped; pause, unpause and delete', async () => {
  const input = join(rig.home, 'slow.jsonl');
  await writeFile(input, `${chatLines(4, { prefix: 's' }).join('\n')}\n`);
  // Held in finalizing: the first run is still running when the second firing comes.
  rig.emulator.addFault({ kind: 'stuck_finalizing', delayMs: 4_000, times: 1 });
  const created = await cli('schedule', 'create', 'busy', input, '--cron', '0 2 1 1 *');
  assert.equal(created.code, 0, created.stderr);
  await cli('schedule', 'trigger', 'busy');
  const [running] = await firings('busy', 1);
  await cli('schedule', 'trigger', 'busy');
  await eventually('the second firing skipped', async () => {
    const { info } = await rig.client.schedule.getHandle('busy').describe();
    return info.numActionsSkippedOverlap === 1 ? true : undefined;
  });
  assert.equal((await summaryOf(running as string)).status, 'completed');

  assert.equal((await cli('schedule', 'pause', 'busy')).code, 0);
  assert.match((await cli('schedule', 'describe', 'busy')).stdout, /^Schedule busy: paused/);
  assert.equal((await cli('schedule', 'unpause', 'busy')).code, 0);
  assert.match((await cli('schedule', 'describe', 'busy')).stdout, /^Schedule busy: active/);
  assert.equal((await cli('schedule', 'delete', 'busy')).code, 0);
  const gone = await cli('schedule', 'describe', 'busy');
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /no schedule busy/);
});

test('a schedule is refused at once for an input that is not there or bad options', async () => {
  const missing = await cli('schedule', 'create', 'bad', '/no/such.jsonl', '--cron', '0 2 * * *');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /\/no\/such\.jsonl: no such file/);
  const input = join(rig.home, 'ok.jsonl');
  await writeFile(input, `${chatLines(1).join('\n')}\n`);
  const cron = await cli('schedule', 'create', 'bad', input, '--cron', 'every day');
  assert.equal(cron.code, 2, cron.stderr);
  assert.match(cron.stderr, /--cron/);
});

test('a one-minute cron fires on its own', async () => {
  const input = join(rig.home, 'minutely.jsonl');
  await writeFile(input, `${chatLines(2, { prefix: 'm' }).join('\n')}\n`);
  const created = await cli('schedule', 'create', 'minutely', input, '--cron', '* * * * *');
  assert.equal(created.code, 0, created.stderr);
  const [first] = await firings('minutely', 1, 75_000);
  assert.match(first ?? '', /^minutely-/);
  assert.equal((await cli('schedule', 'pause', 'minutely')).code, 0);
  const summary = await summaryOf(first as string);
  assert.equal(summary.status, 'completed');
  assert.match(summary.run_id, /^minutely-\d{4}-\d\d-\d\dT\d\d\d\d00Z$/, 'fired on the minute');
  assert.equal((await cli('schedule', 'delete', 'minutely')).code, 0);
});
