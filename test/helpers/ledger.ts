import assert from 'node:assert/strict';
import type { LedgerState } from '../../workflows/ledger.js';
import { eventually, runCli } from './cli.js';
import { chatLines } from './requests.js';
import { type Rig, TIMING } from './rig.js';

/**
 * The emulator of a ledger scenario: every part holds 10 requests, ~160 tokens as the tokenizer
 * counts them (~110 as the emulator does), so the emulator takes two parts' batches at once, and
 * a ledger limit of 350 lets two through.
 */
export const LEDGER_EMULATOR = {
  enqueuedTokenLimit: 250,
  timing: { ...TIMING, perRequestMs: 150 },
};

async function ledgerShown(rig: Rig): Promise<LedgerState | undefined> {
  const show = await runCli(['quota', 'show', '--json'], rig.cliEnv());
  assert.equal(show.code, 0, show.stderr);
  return (JSON.parse(show.stdout) as LedgerState[])[0];
}

/**
 * Runs of 20 requests (two parts each) under a quota of 350 tokens, interrupted (a worker or the
 * server killed) while parts wait in the ledger: every run completes, no batch is refused for
 * the token limit or created twice, and the ledger ends with nothing held.
 */
export async function ledgerScenario(
  rig: Rig,
  ids: string[],
  interrupt: (runIds: string[]) => Promise<void>,
): Promise<void> {
  const set = await runCli(
    ['quota', 'set', '--provider', 'openai', '--model', 'gpt-4o-mini', '--enqueued-tokens', '350'],
    rig.cliEnv(),
  );
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /openai gpt-4o-mini \(account default\): 350 enqueued tokens/);

  const runs = await Promise.all(
    ids.map((id) => rig.submit(chatLines(20, { prefix: id }), { id, maxRequestsPerBatch: 10 })),
  );
  const waiting = await eventually('parts waiting for the quota', async () => {
    const ledger = await ledgerShown(rig);
    return ledger && ledger.waiting.length >= 1 ? ledger : undefined;
  });
  assert.ok(waiting.held.length <= 2, 'at most two batches hold tokens');
  const text = await runCli(['quota', 'show'], rig.cliEnv());
  assert.match(text.stdout, /waiting +\d+ batches, served in this order\n +1\. q\d part \d/);

  await interrupt(ids);

  for (const run of runs) assert.equal((await run.wait()).status, 'completed', run.id);
  const { batches } = rig.emulator.stats();
  assert.equal(batches.filter((b) => b.status === 'failed').length, 0, 'no token_limit_exceeded');
  assert.equal(batches.length, ids.length * 2, 'one batch per part: none created twice');
  const ledger = await ledgerShown(rig);
  assert.equal(ledger?.held.length, 0, 'every reservation released');
  assert.equal(ledger?.waiting.length, 0);
  assert.equal(ledger?.granted.length, ids.length * 2);
}
