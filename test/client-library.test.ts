import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as library from '../src/index.js';
import { spawnNode } from './helpers/cli.js';
import { chatLines } from './helpers/requests.js';
import { FAST, useRig } from './helpers/rig.js';

const rig = useRig('library');

test('the package exports the client library', () => {
  for (const name of ['Nightshift', 'Run', 'startEmulator', 'createNightshiftWorker']) {
    assert.equal(typeof (library as Record<string, unknown>)[name], 'function', name);
  }
});

test('a run from an in-memory list: submit, progress, wait, results, idempotent id', async () => {
  const requests = chatLines(12).map((l) => JSON.parse(l) as object);
  const { run, started } = await rig.nightshift.submitRequests(requests, {
    ...FAST,
    id: 'library-1',
  });
  assert.ok(started);
  const progress = await run.progress();
  assert.equal(progress.runId, 'library-1');
  const summary = await run.wait();
  assert.equal(summary.status, 'completed');
  assert.equal(summary.counts.succeeded, 12);

  const results = [];
  for await (const line of run.results()) results.push(line);
  assert.deepEqual(
    results.map((r) => r.custom_id),
    requests.map((r) => (r as { custom_id: string }).custom_id),
  );

  const again = await rig.nightshift.submitRequests(requests, { ...FAST, id: 'library-1' });
  assert.equal(again.started, false);
  const ids = [];
  for await (const r of rig.nightshift.list()) ids.push(r.id);
  assert.equal(ids.filter((id) => id === 'library-1').length, 1);
});

test('examples/client-script.mjs runs against the stack with the built package', async () => {
  const script = fileURLToPath(new URL('../../examples/client-script.mjs', import.meta.url));
  const run = await spawnNode([script], { ...rig.cliEnv(), POLL_SECONDS: '0.1' }).exited;
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /completed: 3\/3 succeeded/);
  assert.match(run.stdout, /review-3\tsucceeded\t/);
});
