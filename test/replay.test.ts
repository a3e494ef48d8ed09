import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../src/worker.js';
import { HISTORIES_DIR } from './helpers/stack.js';

// Determinism guard: every saved history (runs and their parts, from the lifecycle tests;
// re-record with `npm run record-histories`) must replay against the current workflow code.
// A change that would break running workflows fails here; guard such changes with `patched()`.

const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();

test('histories are saved for the lifecycle scenarios', () => {
  assert.ok(files.length >= 8, `only ${files.length} saved histories`);
});

for (const file of files) {
  test(`replays ${file}`, async () => {
    const saved = JSON.parse(await readFile(join(HISTORIES_DIR, file), 'utf8')) as {
      workflowId: string;
      history: string;
    }[];
    assert.ok(saved.length > 0);
    for (const { workflowId, history } of saved) {
      const decoded = proto.temporal.api.history.v1.History.decode(Buffer.from(history, 'base64'));
      await Worker.runReplayHistory(
        { workflowBundle: await workflowBundle() },
        decoded,
        workflowId,
      );
    }
  });
}
