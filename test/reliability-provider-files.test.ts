import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FaultRule } from '../src/emulator/index.js';
import {
  assertNoProviderFilesLeft,
  assertRunIntegrity,
  batchesOf,
  providerFilesOf,
} from './helpers/assertions.js';
import { runCli } from './helpers/cli.js';
import { scenarios } from './helpers/reliability.js';
import { chatLines, idsOf } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// Nothing left behind at the provider: once an attempt's results are stored, its upload and its
// batch's output and error files are deleted there, whatever way the batch ended; every file is
// made to expire anyway. (A worker killed mid-deletion is in reliability-kills.test.ts.)

const scenario = scenarios('files left at the provider');

const rig = useRig('reliability-provider-files', { worker: 'process' });

/** The lifetime every file is created with (src/providers/openai/batches.ts): a week. */
const WEEK_SECONDS = 7 * 24 * 3600;

/** Runs the lines as `runId` with these faults, to its end; checks its results are whole. */
async function runWith(runId: string, lines: string[], faults: FaultRule[], perBatch = 1_000) {
  rig.emulator.clearFaults();
  for (const rule of faults) rig.emulator.addFault(rule);
  const run = await rig.submit(lines, { id: runId, maxRequestsPerBatch: perBatch });
  const summary = await run.wait();
  assertRunIntegrity(rig.emulator.stats(), runId, idsOf(lines), await rig.results(runId));
  return summary;
}

/** Every file of the run, with an expiry a week after its creation. */
function assertAllExpiring(runId: string): number {
  const files = providerFilesOf(rig.emulator.stats(), runId);
  assert.ok(files.length > 0);
  for (const f of files) {
    assert.equal(f.expires_at, f.created_at + WEEK_SECONDS, `${f.filename} expires in a week`);
  }
  return files.length;
}

scenario(
  'a completed run leaves nothing at the provider',
  'nothing (300 requests in 3 parts)',
  async () => {
    const summary = await runWith('hygiene-plain', chatLines(300, { prefix: 'plain' }), [], 100);
    assert.equal(summary.status, 'completed');
    const files = assertAllExpiring('hygiene-plain');
    assert.equal(files, 6, 'an upload and an output file per part');
    assertNoProviderFilesLeft(rig.emulator.stats(), 'hygiene-plain');
    return {
      runs: 1,
      note: `${files} files made, every one deleted, each set to expire in 7 days`,
    };
  },
);

scenario(
  'batches that failed, expired or had errors leave nothing either',
  'token_limit_exceeded on attempt 1 (one upload, two tries), 500s on 20% of its lines, expiry at 50% on attempt 2',
  async () => {
    const summary = await runWith('hygiene-faults', chatLines(100, { prefix: 'faults' }), [
      { kind: 'batch_token_limit', attempts: [1], times: 1 },
      { kind: 'line_error', statusCode: 500, lineRate: 0.2, attempts: [1] },
      { kind: 'expire_at_fraction', fraction: 0.5, attempts: [2] },
    ]);
    assert.equal(summary.status, 'completed');
    const batches = batchesOf(rig.emulator.stats(), 'hygiene-faults');
    assert.deepEqual(
      batches.map((b) => b.status),
      ['failed', 'completed', 'expired', 'completed'],
    );
    assert.equal(batches[0]?.input_file_id, batches[1]?.input_file_id, 'the tries share a file');
    assert.ok(batches[1]?.error_file_id, 'the line errors made an error file');
    const files = assertAllExpiring('hygiene-faults');
    assertNoProviderFilesLeft(rig.emulator.stats(), 'hygiene-faults');
    return { runs: 1, note: `${files} files of 4 batches over 3 attempts, every one deleted` };
  },
);

scenario(
  '--keep-provider-files keeps them',
  '`nightshift submit --keep-provider-files --wait` (100 requests in 2 parts)',
  async () => {
    rig.emulator.clearFaults();
    const deletions = () => rig.emulator.stats().calls['files.delete']?.total ?? 0;
    const deletionsBefore = deletions();
    const input = await rig.writeInput(chatLines(100, { prefix: 'kept' }), 'kept.jsonl');
    const cli = await runCli(
      [
        'submit',
        input,
        '--id',
        'hygiene-kept',
        '--max-requests-per-batch',
        '50',
        '--poll-interval',
        '0.1',
        '--keep-provider-files',
        '--wait',
        '--out',
        join(rig.home, 'out-kept'),
      ],
      rig.cliEnv(),
    );
    assert.equal(cli.code, 0, cli.stderr);
    const files = assertAllExpiring('hygiene-kept');
    assert.equal(files, 4, 'an upload and an output file per part');
    const deleted = providerFilesOf(rig.emulator.stats(), 'hygiene-kept').filter((f) => f.deleted);
    assert.deepEqual(deleted, [], 'none deleted');
    assert.equal(deletions(), deletionsBefore, 'no deletion was tried');
    return { runs: 1, note: `${files} files kept, each set to expire in 7 days` };
  },
);
