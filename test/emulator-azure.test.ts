import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI, { AzureOpenAI } from 'openai';
import { createAzureClient } from '../src/providers/openai/client.js';
import {
  chatLine,
  createBatch,
  type Harness,
  readLines,
  startHarness,
  waitFor,
} from './helpers/emulator.js';

// Azure OpenAI's Files and Batch APIs are OpenAI's under `/openai`, with an `api-key` header and
// an `api-version` query; the official `AzureOpenAI` client must find them where it looks.

let h: Harness;
before(async () => {
  h = await startHarness({ seed: 11, requireAuth: true });
});
after(() => h.close());

/** A global-batch deployment's name is the model of every line. */
const deploymentLines = (count: number) =>
  Array.from({ length: count }, (_, i) =>
    chatLine(`az-${i}`, `Question ${i}?`, { model: 'gpt-4o-mini-batch' }),
  );

test('AzureOpenAI uploads, creates, polls and downloads a batch on the emulator', async () => {
  const azure = new AzureOpenAI({
    endpoint: h.emu.url,
    apiKey: 'azure-test-key',
    apiVersion: '2025-04-01-preview',
  });
  const batch = await createBatch(azure, deploymentLines(5), { metadata: { team: 'a' } });
  assert.equal(batch.metadata?.team, 'a');
  const done = await waitFor(azure, batch.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.request_counts?.completed, 5);
  const lines = await readLines(azure, done.output_file_id);
  assert.deepEqual(lines.map((l) => l.custom_id).sort(), ['az-0', 'az-1', 'az-2', 'az-3', 'az-4']);
  const listed = await azure.batches.list();
  assert.ok(listed.data.some((b) => b.id === batch.id));
});

test('Azure’s version-less /openai/v1 paths serve the plain OpenAI client', async () => {
  const v1 = new OpenAI({ apiKey: 'azure-test-key', baseURL: `${h.emu.url}/openai/v1` });
  const done = await waitFor(v1, (await createBatch(v1, deploymentLines(2))).id);
  assert.equal(done.request_counts?.completed, 2);
});

test('Azure paths without a key or an api-version are refused as Azure refuses them', async () => {
  const noKey = await fetch(`${h.emu.url}/openai/batches?api-version=2025-04-01-preview`);
  assert.equal(noKey.status, 401);
  const noVersion = await fetch(`${h.emu.url}/openai/batches`, {
    headers: { 'api-key': 'azure-test-key' },
  });
  assert.equal(noVersion.status, 400);
  const body = (await noVersion.json()) as { error: { message: string } };
  assert.match(body.error.message, /api-version/);
});

test('the Azure client goes to Azure’s endpoint even where OPENAI_BASE_URL names another server', async () => {
  // A worker serving both providers has OPENAI_BASE_URL set for the OpenAI one; the SDK would
  // take it for Azure's base URL too (and refuse it beside an endpoint).
  const saved = process.env.OPENAI_BASE_URL;
  process.env.OPENAI_BASE_URL = 'http://127.0.0.1:9/v1';
  try {
    const azure = createAzureClient({
      endpoint: `${h.emu.url}/`,
      apiKey: 'azure-test-key',
      apiVersion: '2025-04-01-preview',
    });
    assert.ok(Array.isArray((await azure.batches.list()).data));
  } finally {
    if (saved === undefined) delete process.env.OPENAI_BASE_URL;
    else process.env.OPENAI_BASE_URL = saved;
  }
});
