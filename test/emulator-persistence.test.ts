import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Batch } from 'openai/resources/batches';
import type { EmulatorOptions, EmulatorTiming } from '../src/emulator/index.js';
import {
  chatLines,
  createBatch,
  type Harness,
  type Line,
  readLines,
  startHarness,
  waitFor,
} from './helpers/emulator.js';

// An emulator given a data dir keeps its records there: one started again on the same dir
// serves the same files and batches and finishes the batches that were running.

const SLOW: EmulatorTiming = { validatingMs: 5, perRequestMs: 20, finalizingMs: 5 };

/** Runs `body` with a fresh data dir, removed afterwards with whatever emulators are left open. */
async function withDataDir(
  body: (dataDir: string, start: (o?: EmulatorOptions) => Promise<Harness>) => Promise<void>,
): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'emu-persist-'));
  const open: Harness[] = [];
  const start = async (options: EmulatorOptions = {}) => {
    const h = await startHarness({ seed: 5, timing: SLOW, dataDir, ...options });
    open.push(h);
    return h;
  };
  try {
    await body(dataDir, start);
  } finally {
    for (const h of open) await h.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Polls (bounded) until the batch has done at least `done` requests. */
async function untilDone(h: Harness, id: string, done: number): Promise<Batch> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const batch = await h.client.batches.retrieve(id);
    const counts = batch.request_counts;
    if (counts && counts.completed + counts.failed >= done) return batch;
    assert.ok(Date.now() < deadline, `batch ${id} at ${JSON.stringify(counts)} after 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const customIds = (lines: Line[]) => lines.map((l) => String(l.custom_id));

test('batches running when the emulator stops finish after it starts again, once', () =>
  withDataDir(async (dataDir, start) => {
    const first = await start();
    const small = await waitFor(
      first.client,
      (await createBatch(first.client, chatLines(2, 'a'))).id,
    );
    assert.equal(small.status, 'completed');
    const big = await createBatch(first.client, chatLines(40, 'b'));
    const before = await untilDone(first, big.id, 5);
    assert.equal(before.status, 'in_progress');
    const files = await first.client.files.list();
    await first.close();

    const second = await start();
    assert.deepEqual(await second.client.batches.retrieve(small.id), small);
    assert.deepEqual((await second.client.files.list()).data, files.data);
    const resumed = await second.client.batches.retrieve(big.id);
    assert.equal(resumed.in_progress_at, before.in_progress_at);
    const counts = resumed.request_counts;
    const done = (counts?.completed ?? 0) + (counts?.failed ?? 0);
    assert.ok(done >= 5 && done < 40, `resumes where it stopped, not from scratch: ${done}`);

    const finished = await waitFor(second.client, big.id);
    assert.equal(finished.status, 'completed');
    assert.deepEqual(finished.request_counts, { total: 40, completed: 40, failed: 0 });
    const output = await readLines(second.client, finished.output_file_id);
    assert.equal(finished.error_file_id, null);
    assert.deepEqual(
      customIds(output).sort(),
      chatLines(40, 'b')
        .map((l) => String(l.custom_id))
        .sort(),
    );
    const listed = await second.client.batches.list();
    assert.deepEqual(
      listed.data.map((b) => b.id),
      [big.id, small.id],
    );

    const stats = second.emu.stats();
    assert.equal(stats.batches.length, 2);
    assert.ok(
      Object.values(stats.submissions).every((n) => n === 1),
      'nothing submitted twice',
    );
    assert.equal(Object.keys(stats.submissions).length, 42);
    const live = stats.files.filter((f) => !f.deleted);
    assert.equal(live.filter((f) => f.filename === `${big.id}_output.jsonl`).length, 1);

    // The same batch run without a stop in between comes out in the same order.
    const control = await startHarness({ seed: 5, timing: { ...SLOW, perRequestMs: 0 } });
    try {
      await waitFor(control.client, (await createBatch(control.client, chatLines(2, 'a'))).id);
      const unstopped = await waitFor(
        control.client,
        (await createBatch(control.client, chatLines(40, 'b'))).id,
      );
      const expected = await readLines(control.client, unstopped.output_file_id);
      assert.deepEqual(customIds(output), customIds(expected));
    } finally {
      await control.close();
    }

    // Closing waits for runs to let go of their inputs.
    await second.close();
    const names = await readdir(dataDir);
    assert.deepEqual(names.filter((name) => name !== 'state.json').length, live.length);
  }));

test('a batch whose window passed while the emulator was down expires at start, partially done', () =>
  withDataDir(async (_dataDir, start) => {
    const first = await start();
    const created = await createBatch(first.client, chatLines(40, 'x'));
    await untilDone(first, created.id, 3);
    await first.close();

    // A window shorter than the batch's age stands in for a long downtime.
    const second = await start({ timing: { ...SLOW, completionWindowMs: 1 } });
    const restored = await second.client.batches.retrieve(created.id);
    const batch = await waitFor(second.client, created.id);
    assert.equal(batch.status, 'expired');
    assert.equal(typeof batch.expired_at, 'number');
    assert.deepEqual(batch.request_counts, restored.request_counts, 'no work while down');
    const done = batch.request_counts?.completed ?? 0;
    assert.ok(done >= 3 && done < 40, `partial: ${done}`);
    const output = await readLines(second.client, batch.output_file_id);
    const errors = await readLines(second.client, batch.error_file_id);
    assert.equal(output.length, done);
    assert.equal(errors.length, 40 - done);
    assert.ok(errors.every((l) => (l.error as { code: string }).code === 'batch_expired'));
    assert.equal(new Set(customIds([...output, ...errors])).size, 40);
  }));

test('reset forgets the saved records too', () =>
  withDataDir(async (dataDir, start) => {
    const first = await start({ timing: { ...SLOW, perRequestMs: 0 } });
    await waitFor(first.client, (await createBatch(first.client, chatLines(3))).id);
    first.emu.reset();
    await first.close();

    const second = await start();
    assert.deepEqual((await second.client.batches.list()).data, []);
    assert.deepEqual((await second.client.files.list()).data, []);
    const { files, batches, submissions } = second.emu.stats();
    assert.deepEqual({ files, batches, submissions }, { files: [], batches: [], submissions: {} });
    assert.deepEqual(await readdir(dataDir), ['state.json']);
  }));
