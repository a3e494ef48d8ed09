import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  canGrantHead,
  type LedgerState,
  learnedLimit,
  ledgerWorkflowId,
} from '../workflows/ledger.js';
import { eventually, runCli } from './helpers/cli.js';
import { recordHistories } from './helpers/histories.js';
import { LEDGER_EMULATOR, ledgerScenario } from './helpers/ledger.js';
import { expireDeadWorker } from './helpers/reliability.js';
import { chatLines } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

const reservation = (holder: string, tokens: number) => ({
  holder,
  ticket: '1.0',
  tokens,
  runId: holder,
  part: 1,
  since: '2026-12-03T00:00:00.000Z',
});

test('first come, first served: the head waits until it fits, and nothing overtakes it', () => {
  const s: LedgerState = {
    key: { provider: 'openai', account: 'default', model: 'gpt-4o-mini' },
    limit: 100,
    learned: null,
    held: [reservation('a', 60)],
    waiting: [reservation('b', 50), reservation('c', 10)],
    granted: [],
  };
  assert.equal(canGrantHead(s), false, 'b does not fit, and c, which would, waits behind it');
  s.held = [];
  assert.equal(canGrantHead(s), true);
  s.waiting = [reservation('huge', 500)];
  assert.equal(canGrantHead(s), true, 'alone, a batch over the limit is the provider to judge');
  assert.equal(learnedLimit(s, 80), 72, 'a refusal at 80 held teaches a limit under it');
});

const rig = useRig('ledger', { worker: 'process', emulator: LEDGER_EMULATOR });

test('three runs share the enqueued-token limit: queued, never refused, through a worker SIGKILL', async () => {
  await ledgerScenario(rig, ['q1', 'q2', 'q3'], async (ids) => {
    await rig.stopWorker();
    for (const id of ids) await expireDeadWorker(rig.client, id);
    await rig.startWorker();
  });
  const ledger = ledgerWorkflowId({ provider: 'openai', account: 'default', model: 'gpt-4o-mini' });
  await recordHistories(rig.client, 'q1', 'ledger-three-runs', [ledger]);
});

test('a scheduled run queues in the ledger too', async () => {
  const input = join(rig.home, 'scheduled.jsonl');
  await writeFile(input, `${chatLines(5, { prefix: 'sched' }).join('\n')}\n`);
  const cli = (...args: string[]) => runCli(args, rig.cliEnv());
  const created = await cli('schedule', 'create', 'quota-nightly', input, '--cron', '0 2 1 1 *');
  assert.equal(created.code, 0, created.stderr);
  assert.equal((await cli('schedule', 'trigger', 'quota-nightly')).code, 0);
  const runId = await eventually('the firing', async () => {
    const { info } = await rig.client.schedule.getHandle('quota-nightly').describe();
    return info.recentActions[0]?.action.workflow.workflowId;
  });
  await rig.client.workflow.getHandle(runId).result();
  const show = await cli('quota', 'show', '--json');
  const [ledger] = JSON.parse(show.stdout) as LedgerState[];
  assert.match(ledger?.granted.at(-1)?.holder ?? '', /^quota-nightly-.*-part-1$/);
  await cli('schedule', 'delete', 'quota-nightly');
});

test('a token_limit_exceeded teaches the ledger a lower limit; every run still completes', async () => {
  const cli = (...args: string[]) => runCli(args, rig.cliEnv());
  // Set above what the emulator takes (250 of its tokens, two parts): a third part is refused.
  const set = await cli(
    ...['quota', 'set', '--provider', 'openai', '--model', 'gpt-4o-mini'],
    ...['--enqueued-tokens', '10000'],
  );
  assert.equal(set.code, 0, set.stderr);
  const runs = await Promise.all(
    ['t1', 't2'].map((id) =>
      rig.submit(chatLines(30, { prefix: id }), { id, maxRequestsPerBatch: 10 }),
    ),
  );
  for (const run of runs) assert.equal((await run.wait()).status, 'completed', run.id);
  const refused = rig.emulator.stats().batches.filter((b) => b.status === 'failed');
  assert.ok(refused.length > 0, 'the provider refused some batch');
  const show = await cli('quota', 'show', '--json');
  const [ledger] = JSON.parse(show.stdout) as LedgerState[];
  assert.ok(
    ledger?.learned !== null && (ledger?.learned ?? 0) < 10_000,
    `learned ${ledger?.learned}`,
  );
  assert.match(
    (await cli('quota', 'show')).stdout,
    /learned from a token_limit_exceeded; set: 10,000/,
  );
  assert.equal(ledger?.held.length, 0);
});
