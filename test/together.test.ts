import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { batchActivities } from '../activities/batches.js';
import { type Emulator, startEmulator } from '../src/emulator/index.js';
import type { BatchKey, BatchProvider } from '../src/providers/provider.js';
import { createProviders } from '../src/providers/registry.js';
import { LocalArtifactStore } from '../src/store/local.js';
import type { BatchSnapshot } from '../workflows/types.js';

// The `together` profile of `openai-compatible`, through the OpenAI SDK, against the emulator's
// Together dialect under /together/v1.

const part = (count: number, prefix = 'r') =>
  new Blob([
    `${Array.from({ length: count }, (_, i) =>
      JSON.stringify({
        custom_id: `${prefix}-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'meta-llama/Llama-3.3-70B-Instruct-Turbo', messages: [] },
      }),
    ).join('\n')}\n`,
  ]);

const key = (attempt: number, runId = 'run1'): BatchKey => ({ runId, part: 1, attempt, try: 1 });

async function together(emu: Emulator): Promise<BatchProvider> {
  const providers = await createProviders({
    'openai-compatible': {
      apiKey: 'together-nightshift-emulator',
      baseURL: `${emu.url}/together/v1`,
      maxRetries: 0,
      profile: 'together',
    },
  });
  const provider = providers['openai-compatible'];
  assert.ok(provider);
  return provider;
}

const ENDED = ['completed', 'failed', 'expired', 'cancelled'];

async function ended(provider: BatchProvider, id: string): Promise<BatchSnapshot> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const snapshot = await provider.retrieveBatch(id);
    if (ENDED.includes(snapshot.status)) return snapshot;
    assert.ok(Date.now() < deadline, `batch ${id} still ${snapshot.status}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the together profile against the emulator', () => {
  let emu: Emulator;
  let provider: BatchProvider;

  before(async () => {
    emu = await startEmulator({ timing: { validatingMs: 5, finalizingMs: 5, cancellingMs: 5 } });
    provider = await together(emu);
  });
  after(() => emu.close());

  const create = (k: BatchKey, fileId: string) =>
    provider.createBatch({
      key: k,
      input: { fileId },
      endpoint: '/v1/chat/completions',
      model: null,
      metadata: { team: 'a' },
    });

  test('uploads for batch-api, runs a batch to completion and reads its results', async () => {
    const blob = part(3);
    const fileId = await provider.uploadFile(blob, 'together-1.jsonl');
    assert.equal(await provider.findFile('together-1.jsonl', blob.size), fileId);
    assert.equal(await provider.findFile('together-1.jsonl', blob.size + 1), null);
    const id = await create(key(1), fileId);
    const done = await ended(provider, id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.requestCounts, { total: 0, completed: 0, failed: 0 }, 'none counted');
    assert.ok(done.outputFileId);
    let text = '';
    for await (const chunk of await provider.resultLines(done.outputFileId)) {
      text += Buffer.from(chunk);
    }
    const ids = text
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    assert.deepEqual(ids.sort(), ['r-0', 'r-1', 'r-2']);

    const stats = emu.stats();
    assert.equal(stats.files.find((f) => f.id === fileId)?.purpose, 'batch-api');
    const batch = stats.batches.find((b) => b.id === id);
    assert.equal(batch?.metadata, null, 'Together keeps no metadata, so none is sent');
    assert.equal(stats.calls['files.create']?.total, 1);

    // What the adapter rewrote: Together's own words for the same batch.
    const raw = async (path: string) => {
      const res = await fetch(`${emu.url}/together/v1/${path}`, {
        headers: { authorization: 'Bearer k' },
      });
      return (await res.json()) as Record<string, unknown>;
    };
    const job = await raw(`batches/${id}`);
    assert.equal(job.status, 'COMPLETED');
    assert.equal(job.progress, 100);
    assert.equal(typeof job.created_at, 'string');
    assert.ok(!('request_counts' in job) && !('metadata' in job));
    assert.ok(Array.isArray(await raw('batches')), 'the list is a bare array');
  });

  test('a lost create answer is found again by its upload, without a second batch', async () => {
    const store = new LocalArtifactStore(await mkdtemp(join(tmpdir(), 'nightshift-together-')));
    const { createBatch } = batchActivities({ 'openai-compatible': provider }, store);
    const fileId = await provider.uploadFile(part(2, 'lost'), 'together-lost.jsonl');
    const input = {
      ...key(1, 'lost-run'),
      provider: 'openai-compatible' as const,
      fileId,
      endpoint: '/v1/chat/completions' as const,
      metadata: {},
    };
    const creates = () => emu.stats().calls['batches.create']?.total ?? 0;
    const before = creates();
    emu.addFault({ endpoint: 'batches.create', kind: 'reset_after', times: 1 });
    const env = new MockActivityEnvironment();
    await assert.rejects(env.run(createBatch, input));
    const id = await env.run(createBatch, input);
    assert.equal(creates(), before + 1, 'the retry found the batch instead of creating one');
    assert.equal(emu.stats().batches.filter((b) => b.input_file_id === fileId).length, 1);
    assert.equal(emu.stats().batches.find((b) => b.id === id)?.input_file_id, fileId);

    // A later try reuses the upload: the batch made before its create was sent is not its own.
    const later = { since: Date.now() + 60_000, fileId };
    assert.equal(await provider.findBatch(key(1, 'lost-run'), later), null);
    assert.equal(await provider.findBatch(key(1, 'lost-run'), null), null, 'no create was sent');
  });

  test('a completed batch whose files are not named yet reads as finalizing', async () => {
    emu.addFault({ kind: 'late_file_ids', reads: 1, times: 1 });
    const fileId = await provider.uploadFile(part(2, 'late'), 'together-late.jsonl');
    const id = await create(key(1, 'late-run'), fileId);
    const seen: string[] = [];
    const deadline = Date.now() + 5_000;
    for (;;) {
      const snapshot = await provider.retrieveBatch(id);
      seen.push(snapshot.status);
      if (snapshot.status === 'completed') {
        assert.ok(snapshot.outputFileId);
        break;
      }
      assert.ok(Date.now() < deadline);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(seen.includes('finalizing'), `statuses seen: ${seen.join(', ')}`);
  });

  test('cancels a running batch; an ended one is returned as it is', async () => {
    const slow = await startEmulator({
      timing: { validatingMs: 5, perRequestMs: 500, cancellingMs: 5 },
    });
    try {
      const p = await together(slow);
      const fileId = await p.uploadFile(part(5, 'c'), 'together-cancel.jsonl');
      const id = await p.createBatch({
        key: key(1, 'cancel-run'),
        input: { fileId },
        endpoint: '/v1/chat/completions',
        model: null,
        metadata: {},
      });
      await p.cancelBatch(id);
      const done = await ended(p, id);
      assert.equal(done.status, 'cancelled');
      assert.equal((await p.cancelBatch(id)).status, 'cancelled');
      assert.equal(slow.stats().calls['batches.cancel']?.total, 1);
    } finally {
      await slow.close();
    }
  });
});
