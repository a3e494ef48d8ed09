import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startCodecServer } from '../src/codec/codec-server.js';
import { AesGcmCodec, parseEncryptionKeys } from '../src/codec/encryption.js';
import { chatLines } from './helpers/requests.js';
import { Rig } from './helpers/rig.js';
import { startDevServer } from './helpers/temporal.js';

const key = (id: string) => `${id}=${randomBytes(32).toString('base64')}`;

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

test('with a key set, nothing Nightshift puts into Temporal is readable without it', async () => {
  const keys = parseEncryptionKeys(key('k1'));
  const dataConverter = { payloadCodecs: [new AesGcmCodec(keys)] };
  const rig = await Rig.start(env, 'encrypted', { dataConverter });
  try {
    const run = await rig.submit(chatLines(20), { id: 'encrypted-1' });
    const summary = await run.wait();
    assert.equal(summary.status, 'completed');
    assert.equal(summary.counts.succeeded, 20);

    // Read the raw history with the plain client: inputs and results must be ciphertext.
    const history = await env.client.workflow.getHandle('encrypted-1').fetchHistory();
    // Payload bytes sit verbatim in the binary history: plaintext would show up here.
    const raw = Buffer.from(proto.temporal.api.history.v1.History.encode(history).finish());
    assert.ok(!raw.includes(rig.home), 'the input path is not in the history');
    assert.ok(!raw.includes('results_path'), 'the result summary is not in the history');
    // Search attributes (status, model, endpoint, ids) stay readable: the server indexes them.
    assert.ok(raw.includes('gpt-4o-mini'));
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const encoding = started?.input?.payloads?.[0]?.metadata?.encoding;
    assert.equal(Buffer.from(encoding ?? []).toString(), 'binary/encrypted');
  } finally {
    await rig.close();
  }
});

test('keys rotate: the new key encrypts, the old one still decrypts; a wrong key fails', async () => {
  const oldKey = key('old');
  const old = new AesGcmCodec(parseEncryptionKeys(oldKey));
  const payload: Payload = {
    metadata: { encoding: Buffer.from('json/plain') },
    data: Buffer.from('{"a":1}'),
  };
  const [sealed] = await old.encode([payload]);
  assert.ok(sealed);

  const rotated = new AesGcmCodec(parseEncryptionKeys(`${key('new')},${oldKey}`));
  const [opened] = await rotated.decode([sealed]);
  assert.equal(Buffer.from(opened?.data ?? []).toString(), '{"a":1}');
  const [resealed] = await rotated.encode([payload]);
  assert.equal(Buffer.from(resealed?.metadata?.['encryption-key-id'] ?? []).toString(), 'new');

  const stranger = new AesGcmCodec(parseEncryptionKeys(key('old')));
  await assert.rejects(stranger.decode([sealed]), /unsupported state|authenticate/i);
  assert.throws(() => parseEncryptionKeys('k=c2hvcnQ='), /32 bytes/);
});

test('the codec server decodes for the Temporal UI, with CORS', async () => {
  const codec = new AesGcmCodec(parseEncryptionKeys(key('k1')));
  const server = await startCodecServer(codec);
  try {
    const [sealed] = await codec.encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"hello"') },
    ]);
    const json = {
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(sealed?.metadata ?? {}).map(([k, v]) => [
              k,
              Buffer.from(v).toString('base64'),
            ]),
          ),
          data: Buffer.from(sealed?.data ?? []).toString('base64'),
        },
      ],
    };
    const res = await fetch(`${server.url}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default' },
      body: JSON.stringify(json),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    const body = (await res.json()) as { payloads: { data: string }[] };
    assert.equal(Buffer.from(body.payloads[0]?.data ?? '', 'base64').toString(), '"hello"');
  } finally {
    await server.close();
  }
});
