import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI, { APIConnectionTimeoutError, AuthenticationError } from 'openai';
import { type Emulator, startEmulator } from '../src/emulator/index.js';
import { uploadingFetch } from '../src/providers/openai/upload-fetch.js';
import { chatLines } from './helpers/requests.js';

// Uploads through the SDK with the worker's fetch, to the emulator over real HTTP.

let emulator: Emulator;
before(async () => {
  emulator = await startEmulator({ timing: { validatingMs: 5, finalizingMs: 5 } });
});
after(() => emulator.close());

const clientOf = (baseURL: string, options: { timeout?: number } = {}) =>
  new OpenAI({ apiKey: 'sk-test', baseURL, fetch: uploadingFetch, maxRetries: 0, ...options });

async function fileOf(name: string, content: string) {
  const path = join(await mkdtemp(join(tmpdir(), 'nightshift-upload-')), name);
  await writeFile(path, content);
  return new File([await openAsBlob(path)], name, { type: 'application/jsonl' });
}

test('a multipart upload streams from disk and arrives byte for byte', async () => {
  const openai = clientOf(`${emulator.url}/v1`);
  const content = `${chatLines(2_000).join('\n')}\n`;
  const file = await openai.files.create({
    file: await fileOf('part "one".jsonl', content),
    purpose: 'batch',
  });
  assert.equal(file.bytes, Buffer.byteLength(content));
  assert.equal(file.filename, 'part %22one%22.jsonl');
  assert.equal(await (await openai.files.content(file.id)).text(), content);
  // Requests without a form go through fetch as before.
  assert.equal((await openai.files.retrieve(file.id)).id, file.id);
});

/** A server that answers every request with `status` once it has read it, and records it. */
async function answering(status: number, delayMs = 0) {
  const seen: { headers: IncomingHttpHeaders; bytes: number }[] = [];
  const server = createServer((req, res) => {
    const request = { headers: req.headers, bytes: 0 };
    seen.push(request);
    req.on('data', (chunk: Buffer) => {
      request.bytes += chunk.length;
    });
    req.on('end', () => {
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `status ${status}`, type: 'test' } }));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  return { url: `http://127.0.0.1:${port}/v1`, seen, close };
}

test('the upload says its length, and the server’s refusal is the SDK’s error', async () => {
  const server = await answering(401);
  try {
    const file = await fileOf('p.jsonl', 'x'.repeat(100_000));
    await assert.rejects(
      clientOf(server.url).files.create({ file, purpose: 'batch' }),
      AuthenticationError,
    );
    const [request] = server.seen;
    assert.match(request?.headers['content-type'] ?? '', /^multipart\/form-data; boundary=/);
    assert.equal(Number(request?.headers['content-length']), request?.bytes);
  } finally {
    server.close();
  }
});

test('the SDK’s timeout aborts an upload', async () => {
  const server = await answering(200, 5_000);
  try {
    const openai = clientOf(server.url, { timeout: 200 });
    const file = await fileOf('p.jsonl', 'x'.repeat(1_000));
    await assert.rejects(
      openai.files.create({ file, purpose: 'batch' }),
      APIConnectionTimeoutError,
    );
  } finally {
    server.close();
  }
});
