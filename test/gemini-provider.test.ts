import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Emulator, startEmulator } from '../src/emulator/index.js';
import { GeminiBatchProvider } from '../src/providers/gemini/batches.js';
import { createGeminiClient } from '../src/providers/gemini/client.js';
import type { BatchKey } from '../src/providers/provider.js';
import type { BatchSnapshot } from '../workflows/types.js';

const MODEL = 'gemini-2.5-flash';

const part = (count: number) =>
  new Blob([
    `${Array.from({ length: count }, (_, i) =>
      JSON.stringify({ key: `r-${i}`, request: { contents: [{ parts: [{ text: `Q${i}` }] }] } }),
    ).join('\n')}\n`,
  ]);

const key = (attempt: number, runId = 'run1'): BatchKey => ({ runId, part: 1, attempt, try: 1 });

describe('GeminiBatchProvider against the emulator', () => {
  let emu: Emulator;
  let provider: GeminiBatchProvider;

  before(async () => {
    emu = await startEmulator({ timing: { validatingMs: 5, finalizingMs: 5, cancellingMs: 5 } });
    provider = new GeminiBatchProvider(createGeminiClient({ apiKey: 'k', baseUrl: emu.url }));
  });
  after(() => emu.close());

  async function run(k: BatchKey, count = 3): Promise<BatchSnapshot> {
    const fileId = await provider.uploadFile(part(count), `${k.runId}-a${k.attempt}.jsonl`);
    const id = await provider.createBatch({
      key: k,
      input: { fileId },
      endpoint: '/v1/chat/completions',
      model: MODEL,
      metadata: {},
    });
    const deadline = Date.now() + 5_000;
    for (;;) {
      const snapshot = await provider.retrieveBatch(id);
      if (['completed', 'failed', 'expired', 'cancelled'].includes(snapshot.status))
        return snapshot;
      assert.ok(Date.now() < deadline);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function lines(fileId: string) {
    let text = '';
    for await (const chunk of await provider.resultLines(fileId)) text += Buffer.from(chunk);
    return text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
  }

  test('uploads, finds the upload, runs a batch and converts its results', async () => {
    const blob = part(3);
    const fileId = await provider.uploadFile(blob, 'find-me.jsonl');
    assert.equal(await provider.findFile('find-me.jsonl', blob.size), fileId);
    assert.equal(await provider.findFile('find-me.jsonl', blob.size + 1), null);
    const snapshot = await run(key(1));
    assert.equal(snapshot.status, 'completed');
    assert.deepEqual(snapshot.requestCounts, { total: 3, completed: 3, failed: 0 });
    assert.equal(snapshot.errorFileId, null);
    const got = await lines(snapshot.outputFileId as string);
    assert.deepEqual(got.map((l) => l.custom_id).sort(), ['r-0', 'r-1', 'r-2']);
    for (const line of got) {
      assert.equal(line.response.status_code, 200);
      assert.equal(line.error, null);
      assert.ok(line.response.body.candidates[0].content.parts[0].text);
    }
    await provider.deleteFile(snapshot.outputFileId as string);
    await provider.deleteFile(snapshot.outputFileId as string);
  });

  test('failed lines keep their HTTP status; an expired batch reports nothing retrievable', async () => {
    emu.addFault({ kind: 'line_error', statusCode: 503, lineRate: 1, attempts: [2] });
    const failed = await run(key(2));
    assert.deepEqual(failed.requestCounts, { total: 3, completed: 0, failed: 3 });
    for (const line of await lines(failed.outputFileId as string)) {
      assert.equal(line.response.status_code, 503);
      assert.equal(line.response.body.error.status, 'UNAVAILABLE');
    }
    emu.addFault({ kind: 'expire_at_fraction', fraction: 0.5, attempts: [3] });
    const expired = await run(key(3));
    assert.equal(expired.status, 'expired');
    assert.equal(expired.outputFileId, null);
    assert.deepEqual(expired.requestCounts, { total: 3, completed: 0, failed: 0 });
  });

  test('finds the batch of a create whose answer was lost, by its display name', async () => {
    const k = key(1, 'lost-run');
    const fileId = await provider.uploadFile(part(2), 'lost.jsonl');
    const creates = () => emu.stats().calls['gemini.batches.create']?.total ?? 0;
    const before = creates();
    emu.addFault({ kind: 'reset_after', endpoint: 'gemini.batches.create', times: 1 });
    await assert.rejects(
      provider.createBatch({
        key: k,
        input: { fileId },
        endpoint: '/v1/chat/completions',
        model: MODEL,
        metadata: {},
      }),
    );
    const found = await provider.findBatch(k);
    assert.match(found ?? '', /^batches\//);
    assert.equal(await provider.findBatch(key(9, 'lost-run')), null);
    assert.equal(creates(), before + 1, 'the SDK did not retry the create');
  });

  test('cancels a running batch; errors become activity failures', async () => {
    const slow = await startEmulator({
      timing: { validatingMs: 5, perRequestMs: 500, cancellingMs: 5 },
    });
    try {
      const p = new GeminiBatchProvider(createGeminiClient({ apiKey: 'k', baseUrl: slow.url }));
      const fileId = await p.uploadFile(part(5), 'slow.jsonl');
      const id = await p.createBatch({
        key: key(1, 'c'),
        input: { fileId },
        endpoint: '/v1/chat/completions',
        model: MODEL,
        metadata: {},
      });
      await p.cancelBatch(id);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const done = await p.cancelBatch(id);
      assert.equal(done.status, 'cancelled');
      slow.addFault({
        kind: 'http_429',
        endpoint: 'gemini.batches.get',
        times: 1,
        retryAfterSeconds: 2,
      });
      await assert.rejects(
        p.retrieveBatch(id),
        (err: Error & { type?: string; nextRetryDelay?: unknown }) => {
          assert.equal(err.type, 'ProviderUnavailable');
          return true;
        },
      );
      await assert.rejects(p.retrieveBatch('batches/nope'), { type: 'ProviderRejected' });
    } finally {
      await slow.close();
    }
  });
});
