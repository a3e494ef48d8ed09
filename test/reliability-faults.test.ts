import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultLine } from '../src/client.js';
import type { FaultRule } from '../src/emulator/index.js';
import type { RunSummary } from '../workflows/types.js';
import { assertRunIntegrity, batchesOf, countStatuses } from './helpers/assertions.js';
import { runCli } from './helpers/cli.js';
import { activityRetries, recordHistories } from './helpers/histories.js';
import { scenarios, untilDone } from './helpers/reliability.js';
import { chatLines, idsOf } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// Provider faults and expiry against the production worker (a `nightshift worker` process, whose
// SDK client retries twice on its own before the activity's Temporal retry policy takes over).

const scenario = scenarios('provider faults and expiry');

const rig = useRig('reliability-faults', { worker: 'process' });

/** A scenario that crashed the worker must not take the following ones down with it. */
async function workerUp(): Promise<void> {
  const { child } = rig.workerProcess;
  if (child.exitCode === null && child.signalCode === null) return;
  await rig.startWorker();
}

async function withFaults(rules: FaultRule[]) {
  await workerUp();
  rig.emulator.clearFaults();
  for (const rule of rules) rig.emulator.addFault(rule);
}

/**
 * About one call in five on every endpoint is hit (the rules are tried in order, so the rates
 * compound to ≈ 20%); on top of that downloads are cut in half and batch creations lose their
 * answer after the batch was made, each at 20%.
 */
const TWENTY_PERCENT: FaultRule[] = [
  { endpoint: '*', kind: 'http_429', rate: 0.05, retryAfterSeconds: 0.2 },
  { endpoint: '*', kind: 'http_500', rate: 0.045 },
  { endpoint: '*', kind: 'http_503', rate: 0.045 },
  { endpoint: '*', kind: 'reset', rate: 0.045 },
  { endpoint: '*', kind: 'slow', rate: 0.03, delayMs: 300 },
  // These two bypass the SDK's retries and land on Temporal's exponential backoff (1 s, 2 s,
  // 4 s, …), so they are capped: a long unlucky streak would only test patience.
  { endpoint: 'files.content', kind: 'truncate', rate: 0.2, fraction: 0.5, times: 3 },
  { endpoint: 'batches.create', kind: 'reset_after', rate: 0.2, times: 2 },
];

scenario(
  'truncated downloads: the worker process survives',
  'files.content cut after half its bytes, 3 times in a row',
  async () => {
    await withFaults([{ endpoint: 'files.content', kind: 'truncate', fraction: 0.5, times: 3 }]);
    const lines = chatLines(200, { prefix: 'cut' });
    const run = await rig.submit(lines, { id: 'truncated' });
    const summary = await untilDone(run, rig.workerProcess);
    assert.equal(summary.status, 'completed');
    const results = await rig.results(run.id);
    assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(lines), results);
    assert.deepEqual(countStatuses(results), { succeeded: 200 });
    return { runs: 1 };
  },
);

scenario(
  'API faults at a 20% rate on every endpoint',
  '429 (retry-after 0.2 s), 500, 503, connection reset, slow 300 ms on every endpoint (≈20%); ' +
    '20% of downloads truncated and 20% of create answers lost after the batch was made ' +
    '(at most 3 and 2 of them)',
  async () => {
    await withFaults(TWENTY_PERCENT);
    const runs = await Promise.all(
      ['a', 'b', 'c'].map(async (prefix) => {
        const lines = chatLines(120, { prefix: `faults-${prefix}` });
        const run = await rig.submit(lines, { id: `faults-${prefix}`, maxRequestsPerBatch: 40 });
        return { run, lines };
      }),
    );
    let retries = 0;
    for (const { run, lines } of runs) {
      const summary = await untilDone(run, rig.workerProcess);
      assert.equal(summary.status, 'completed');
      const results = await rig.results(run.id);
      assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(lines), results);
      assert.deepEqual(countStatuses(results), { succeeded: 120 });
      assert.equal(batchesOf(rig.emulator.stats(), run.id).length, 3, 'one batch per part');
      retries += await activityRetries(rig.client, run.id);
    }
    await recordHistories(rig.client, 'faults-a', 'faults-20pct');
    const stats = rig.emulator.stats();
    const fired = stats.faults.map((f) => `${f.rule.kind}×${f.fired}`).join(', ');
    const calls = Object.values(stats.calls).reduce((n, c) => n + c.total, 0);
    assert.ok(
      stats.faults.every((f) => f.fired > 0 || f.rule.kind === 'slow'),
      fired,
    );
    rig.emulator.clearFaults();
    return {
      runs: runs.length,
      note: `${calls} calls, faults fired: ${fired}; ${retries} activity retries by Temporal`,
    };
  },
  150_000,
);

const EXPIRE_ATTEMPTS_1_2: FaultRule = {
  kind: 'expire_at_fraction',
  fraction: 0.6,
  attempts: [1, 2],
};

/** custom_id → times submitted, grouped: how many requests were submitted once, twice, … */
function submissionHistogram(results: ResultLine[]): Record<number, number> {
  const submissions = rig.emulator.stats().submissions;
  const histogram: Record<number, number> = {};
  for (const r of results) {
    const n = submissions[r.custom_id] ?? 0;
    histogram[n] = (histogram[n] ?? 0) + 1;
  }
  return histogram;
}

scenario(
  'expiry at 60% on attempts 1 and 2, done by the third',
  'expire_at_fraction 0.6 on attempts 1 and 2 (100 requests, 3 attempts allowed)',
  async () => {
    await withFaults([EXPIRE_ATTEMPTS_1_2]);
    const lines = chatLines(100, { prefix: 'expiry' });
    const run = await rig.submit(lines, { id: 'expiry-3' });
    const summary = await run.wait();
    await recordHistories(rig.client, run.id);
    assert.equal(summary.status, 'completed');
    const results = await rig.results(run.id);
    assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(lines), results);
    assert.deepEqual(
      batchesOf(rig.emulator.stats(), run.id).map((b) => [b.status, b.request_counts.total]),
      [
        ['expired', 100],
        ['expired', 40],
        ['completed', 16],
      ],
      'each attempt carries only what the last left unfinished',
    );
    // 60 done in attempt 1, 24 of the other 40 in attempt 2, the last 16 in attempt 3.
    assert.deepEqual(submissionHistogram(results), { 1: 60, 2: 24, 3: 16 });
    assert.deepEqual(countStatuses(results), { succeeded: 100 });
    return { runs: 1, note: 'submitted once: 60, twice: 24, three times: 16' };
  },
);

scenario(
  'expiry with attempts exhausted: leftovers expired, run partial, exit 1',
  'expire_at_fraction 0.6 on attempts 1 and 2; `nightshift submit --wait --max-attempts 2`',
  async () => {
    await withFaults([EXPIRE_ATTEMPTS_1_2]);
    const lines = chatLines(100, { prefix: 'exhaust' });
    const input = await rig.writeInput(lines, 'exhaust.jsonl');
    const out = join(rig.home, 'out-exhaust');
    const cli = await runCli(
      [
        'submit',
        input,
        '--id',
        'expiry-exhausted',
        '--max-attempts',
        '2',
        '--poll-interval',
        '0.1',
        '--wait',
        '--out',
        out,
      ],
      rig.cliEnv(),
    );
    assert.equal(cli.code, 1, cli.stderr);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as RunSummary;
    assert.equal(summary.status, 'partial');
    const results = (await readFile(join(out, 'results.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as ResultLine);
    assertRunIntegrity(rig.emulator.stats(), 'expiry-exhausted', idsOf(lines), results);
    assert.deepEqual(countStatuses(results), { succeeded: 84, expired: 16 });
    const expired = results.filter((r) => r.status === 'expired');
    assert.ok(expired.every((r) => r.attempts === 2 && r.error?.code === 'batch_expired'));
    assert.deepEqual(submissionHistogram(results), { 1: 60, 2: 40 });
    rig.emulator.clearFaults();
    return { runs: 1, note: '84 succeeded, 16 expired after 2 attempts; exit code 1' };
  },
);
