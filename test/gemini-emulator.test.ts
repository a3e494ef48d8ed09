import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BatchJob, GoogleGenAI } from '@google/genai';
import { type Emulator, startEmulator } from '../src/emulator/index.js';

type Line = Record<string, unknown>;

const MODEL = 'gemini-2.5-flash';
const ENDED = [
  'JOB_STATE_SUCCEEDED',
  'JOB_STATE_FAILED',
  'JOB_STATE_CANCELLED',
  'JOB_STATE_EXPIRED',
];

function geminiLines(count: number, prefix = 'k'): Line[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `${prefix}-${i}`,
    request: { contents: [{ role: 'user', parts: [{ text: `Question number ${i}?` }] }] },
  }));
}

const jsonl = (lines: Line[]) => `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;

async function raw(emu: Emulator, path: string, init: RequestInit = {}) {
  const response = await fetch(`${emu.url}${path}`, init);
  return { status: response.status, body: (await response.json()) as Line };
}

describe('Gemini Batch Mode emulator, through @google/genai', () => {
  let emu: Emulator;
  let ai: GoogleGenAI;

  before(async () => {
    emu = await startEmulator({ timing: { validatingMs: 5, finalizingMs: 5, cancellingMs: 5 } });
    ai = new GoogleGenAI({ apiKey: 'test-key', httpOptions: { baseUrl: emu.url } });
  });
  after(() => emu.close());

  async function upload(lines: Line[], displayName = 'input.jsonl') {
    return ai.files.upload({
      file: new Blob([jsonl(lines)], { type: 'application/jsonl' }),
      config: { mimeType: 'application/jsonl', displayName },
    });
  }

  async function create(lines: Line[], displayName = 'job') {
    const file = await upload(lines);
    return ai.batches.create({ model: MODEL, src: file.name as string, config: { displayName } });
  }

  async function waitFor(name: string, states = ENDED): Promise<BatchJob> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const job = await ai.batches.get({ name });
      if (states.includes(job.state as string)) return job;
      assert.ok(Date.now() < deadline, `${name} still ${job.state}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function download(name: string): Promise<Line[]> {
    const dir = await mkdtemp(join(tmpdir(), 'gemini-download-'));
    try {
      const path = join(dir, 'out.jsonl');
      await ai.files.download({ file: name, downloadPath: path });
      const text = await readFile(path, 'utf8');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Line);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  test('uploads a file resumably; get, list and delete it', async () => {
    const lines = geminiLines(3);
    const file = await upload(lines, 'files-test.jsonl');
    assert.match(file.name ?? '', /^files\//);
    assert.equal(file.displayName, 'files-test.jsonl');
    assert.equal(file.mimeType, 'application/jsonl');
    assert.equal(file.sizeBytes, String(Buffer.byteLength(jsonl(lines))));
    assert.equal(file.state, 'ACTIVE');
    const got = await ai.files.get({ name: file.name as string });
    assert.equal(got.displayName, 'files-test.jsonl');
    const listed = [];
    for await (const f of await ai.files.list({ config: { pageSize: 1 } })) listed.push(f.name);
    assert.ok(listed.includes(file.name));
    await ai.files.delete({ name: file.name as string });
    await assert.rejects(ai.files.get({ name: file.name as string }), { status: 404 });
  });

  test('runs a batch from a file to a responses file of GenerateContentResponses', async () => {
    const created = await create(geminiLines(5), 'run-1');
    assert.match(created.name ?? '', /^batches\//);
    assert.equal(created.displayName, 'run-1');
    assert.equal(created.state, 'JOB_STATE_PENDING');
    const job = await waitFor(created.name as string);
    assert.equal(job.state, 'JOB_STATE_SUCCEEDED');
    assert.equal(job.model, `models/${MODEL}`);
    assert.ok(job.endTime);
    const lines = await download(job.dest?.fileName as string);
    assert.deepEqual(lines.map((l) => l.key).sort(), ['k-0', 'k-1', 'k-2', 'k-3', 'k-4']);
    for (const line of lines) {
      const response = line.response as {
        candidates: {
          content: { role: string; parts: { text: string }[] };
          finishReason: string;
        }[];
        usageMetadata: {
          promptTokenCount: number;
          candidatesTokenCount: number;
          totalTokenCount: number;
        };
        modelVersion: string;
      };
      assert.equal(response.candidates[0]?.content.role, 'model');
      assert.ok(response.candidates[0]?.content.parts[0]?.text);
      assert.equal(response.candidates[0]?.finishReason, 'STOP');
      const usage = response.usageMetadata;
      assert.equal(usage.totalTokenCount, usage.promptTokenCount + usage.candidatesTokenCount);
      assert.equal(response.modelVersion, MODEL);
    }
    // Deterministic: the same request gets the same body in another batch, but for the id that
    // names the response (made of the second it was created in).
    const again = await waitFor((await create(geminiLines(1), 'run-2')).name as string);
    const [line] = await download(again.dest?.fileName as string);
    const withoutId = (l: Line | undefined) => ({
      ...l,
      response: { ...(l?.response as object), responseId: undefined },
    });
    assert.deepEqual(withoutId(line), withoutId(lines.find((l) => l.key === 'k-0')));
    const { body } = await raw(emu, `/v1beta/${job.name}`, {
      headers: { 'x-goog-api-key': 'k' },
    });
    assert.deepEqual((body.metadata as Line).batchStats, {
      requestCount: '5',
      successfulRequestCount: '5',
      failedRequestCount: '0',
      pendingRequestCount: '0',
    });
    assert.equal(body.done, true);
  });

  test('lists batches by page, cancels one and deletes one', async () => {
    const slow = await startEmulator({ timing: { validatingMs: 5, perRequestMs: 200 } });
    try {
      const client = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: slow.url } });
      const file = await client.files.upload({
        file: new Blob([jsonl(geminiLines(20))]),
        config: { mimeType: 'application/jsonl', displayName: 'in.jsonl' },
      });
      const made = [];
      for (const displayName of ['a', 'b', 'c']) {
        made.push(
          await client.batches.create({
            model: MODEL,
            src: file.name as string,
            config: { displayName },
          }),
        );
      }
      const names = [];
      for await (const job of await client.batches.list({ config: { pageSize: 2 } }))
        names.push(job.displayName);
      assert.deepEqual(names, ['c', 'b', 'a']);
      await client.batches.cancel({ name: made[0]?.name as string });
      const deadline = Date.now() + 5_000;
      let job = await client.batches.get({ name: made[0]?.name as string });
      while (job.state !== 'JOB_STATE_CANCELLED' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        job = await client.batches.get({ name: made[0]?.name as string });
      }
      assert.equal(job.state, 'JOB_STATE_CANCELLED');
      await assert.rejects(client.batches.cancel({ name: made[0]?.name as string }), {
        status: 400,
      });
      await client.batches.delete({ name: made[1]?.name as string });
      await assert.rejects(client.batches.get({ name: made[1]?.name as string }), { status: 404 });
      assert.equal(slow.stats().calls['gemini.batches.delete']?.total, 1);
    } finally {
      await slow.close();
    }
  });

  test("requires a key, and answers errors in Google's shape", async () => {
    const missing = await raw(emu, '/v1beta/batches');
    assert.equal(missing.status, 403);
    assert.equal((missing.body.error as Line).status, 'PERMISSION_DENIED');
    const byQuery = await raw(emu, '/v1beta/batches?key=k');
    assert.equal(byQuery.status, 200);
    const unknown = await raw(emu, '/v1beta/batches/nope?key=k');
    assert.deepEqual(unknown.body, {
      error: { code: 404, message: 'Batch batches/nope not found.', status: 'NOT_FOUND' },
    });
    // OpenAI's routes keep asking for a bearer token.
    assert.equal(
      (await raw(emu, '/v1/batches', { headers: { 'x-goog-api-key': 'k' } })).status,
      401,
    );
  });

  test('an expired batch reports its state and no results; line errors carry Google errors', async () => {
    emu.addFault({
      kind: 'expire_at_fraction',
      fraction: 0.5,
      endpoint: 'gemini.batches.create',
      times: 1,
    });
    const expired = await waitFor((await create(geminiLines(4), 'exp')).name as string);
    assert.equal(expired.state, 'JOB_STATE_EXPIRED');
    assert.equal(expired.dest?.fileName, undefined);

    emu.addFault({
      kind: 'line_error',
      statusCode: 429,
      lineRate: 0.5,
      endpoint: 'gemini.batches.create',
      times: 1,
    });
    const job = await waitFor((await create(geminiLines(4), 'errs')).name as string);
    const lines = await download(job.dest?.fileName as string);
    const errors = lines.filter((l) => l.error);
    assert.equal(errors.length, 2);
    const error = errors[0]?.error as Line;
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'status']);
    assert.equal(error.code, 429);
    assert.equal(error.status, 'RESOURCE_EXHAUSTED');
  });

  test('late_file_ids hides the responses file from the first reads of an ended batch', async () => {
    emu.addFault({ kind: 'late_file_ids', reads: 2, endpoint: 'gemini.batches.create', times: 1 });
    const created = await create(geminiLines(2), 'late');
    const first = await waitFor(created.name as string);
    assert.equal(first.state, 'JOB_STATE_SUCCEEDED');
    assert.equal(first.dest, undefined);
    assert.equal((await ai.batches.get({ name: created.name as string })).dest, undefined);
    assert.match(
      (await ai.batches.get({ name: created.name as string })).dest?.fileName ?? '',
      /^files\//,
    );
  });

  test('HTTP faults and a lost create answer are counted per Gemini endpoint', async () => {
    emu.addFault({
      kind: 'http_429',
      endpoint: 'gemini.batches.get',
      times: 1,
      retryAfterSeconds: 1.5,
    });
    const created = await create(geminiLines(1), 'faults');
    const refused = await raw(emu, `/v1beta/${created.name}?key=k`);
    assert.equal(refused.status, 429);
    assert.deepEqual((refused.body.error as { details: unknown }).details, [
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.5s' },
    ]);
    emu.addFault({ kind: 'reset_after', endpoint: 'gemini.batches.create', times: 1 });
    const file = await upload(geminiLines(1));
    await assert.rejects(
      ai.batches.create({
        model: MODEL,
        src: file.name as string,
        config: { displayName: 'lost' },
      }),
    );
    const names = [];
    for await (const job of await ai.batches.list()) names.push(job.displayName);
    assert.ok(names.includes('lost'), 'the lost create made its batch');
    const stats = emu.stats();
    assert.equal(stats.calls['gemini.batches.create']?.byStatus.reset, 1);
    assert.equal(stats.calls['gemini.batches.get']?.byStatus['429'], 1);
    assert.ok((stats.calls['gemini.files.upload']?.total ?? 0) >= 2);
  });

  test('a malformed input file fails the batch with the reason', async () => {
    const file = await ai.files.upload({
      file: new Blob(['not json\n']),
      config: { mimeType: 'application/jsonl', displayName: 'bad.jsonl' },
    });
    const job = await ai.batches.create({
      model: MODEL,
      src: file.name as string,
      config: { displayName: 'bad' },
    });
    const ended = await waitFor(job.name as string);
    assert.equal(ended.state, 'JOB_STATE_FAILED');
    const { body } = await raw(emu, `/v1beta/${job.name}?key=k`);
    assert.match(String((body.error as Line).message), /line 1/);
  });
});
