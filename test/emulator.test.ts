import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { expectedUsage } from '../src/emulator/index.js';
import {
  assertResponsesMatchSpec,
  chatLine,
  chatLines,
  createBatch,
  type Harness,
  type Line,
  readLines,
  specValidator,
  startHarness,
  upload,
  waitFor,
} from './helpers/emulator.js';

let h: Harness;
before(async () => {
  h = await startHarness({ seed: 7 });
});
after(() => h.close());

test('files: upload, retrieve, list with purpose/order/pagination, content, delete', async () => {
  const { client } = h;
  const uploaded = [];
  for (let i = 0; i < 5; i++)
    uploaded.push(await upload(h.client, chatLines(i + 1), `part-${i}.jsonl`));
  const other = await client.files.create({
    file: await toFile(Buffer.from('notes'), 'notes.txt'),
    purpose: 'user_data',
    expires_after: { anchor: 'created_at', seconds: 7200 },
  });
  assert.equal(other.expires_at, other.created_at + 7200);

  const first = uploaded[0];
  assert.ok(first);
  assert.match(first.id, /^file-/);
  assert.deepEqual(
    {
      object: first.object,
      purpose: first.purpose,
      filename: first.filename,
      status: first.status,
    },
    { object: 'file', purpose: 'batch', filename: 'part-0.jsonl', status: 'processed' },
  );
  assert.equal(first.bytes, Buffer.byteLength(`${JSON.stringify(chatLines(1)[0])}\n`));
  assert.deepEqual(await client.files.retrieve(first.id), first);

  const batchFiles = [];
  for await (const file of client.files.list({ purpose: 'batch', limit: 2 }))
    batchFiles.push(file.id);
  assert.deepEqual(batchFiles, uploaded.map((f) => f.id).reverse(), 'newest first, across pages');
  const page = await client.files.list({ order: 'asc', limit: 2 });
  assert.deepEqual(
    page.data.map((f) => f.id),
    uploaded.slice(0, 2).map((f) => f.id),
  );
  assert.equal(page.has_more, true);

  const content = await (await client.files.content(first.id)).text();
  assert.deepEqual(JSON.parse(content), chatLines(1)[0]);

  assert.deepEqual(await client.files.delete(first.id), {
    id: first.id,
    object: 'file',
    deleted: true,
  });
  await assert.rejects(client.files.retrieve(first.id), OpenAI.NotFoundError);
  await assert.rejects(client.files.content(first.id), OpenAI.NotFoundError);
  const left = (await client.files.list({ purpose: 'batch' })).data.map((f) => f.id);
  assert.ok(!left.includes(first.id));
  assert.deepEqual((await client.files.list({ purpose: 'vision' })).data, []);
});

test('files: past its expires_at a file is gone, as if deleted', async (t) => {
  const { client } = h;
  const file = await client.files.create({
    file: await toFile(Buffer.from('{}\n'), 'short-lived.jsonl'),
    purpose: 'batch',
    expires_after: { anchor: 'created_at', seconds: 3600 },
  });
  const listed = async () => (await client.files.list({ purpose: 'batch' })).data.map((f) => f.id);
  assert.ok((await listed()).includes(file.id));
  t.mock.timers.enable({ apis: ['Date'], now: (file.created_at + 3600) * 1000 });
  await assert.rejects(client.files.retrieve(file.id), OpenAI.NotFoundError);
  await assert.rejects(client.files.delete(file.id), OpenAI.NotFoundError);
  assert.ok(!(await listed()).includes(file.id));
  const stat = h.emu.stats().files.find((f) => f.id === file.id);
  assert.deepEqual(stat && [stat.expires_at, stat.deleted], [file.created_at + 3600, false]);
});

test('files: purpose and format checks answer 400 in OpenAI error shape', async () => {
  const { client } = h;
  await assert.rejects(
    client.files.create({ file: await toFile(Buffer.from('{}'), 'input.json'), purpose: 'batch' }),
    (err: unknown) => err instanceof OpenAI.BadRequestError && /\.jsonl/.test(err.message),
  );
  const form = new FormData();
  form.append('file', new Blob(['{}\n']), 'input.jsonl');
  const missing = await fetch(`${h.emu.url}/v1/files`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-test' },
    body: form,
  });
  assert.equal(missing.status, 400);
  assert.deepEqual(await missing.json(), {
    error: {
      message: "Missing required parameter: 'purpose'.",
      type: 'invalid_request_error',
      param: 'purpose',
      code: 'missing_required_parameter',
    },
  });
  await assert.rejects(
    client.files.create({
      file: await toFile(Buffer.from('{}\n'), 'x.jsonl'),
      purpose: 'wallpaper' as 'batch',
    }),
    OpenAI.BadRequestError,
  );
});

test('files: an upload over the limit is refused and leaves nothing on disk', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'emu-too-large-'));
  const small = await startHarness({ dataDir, maxFileBytes: 10_000 });
  try {
    const big = Buffer.alloc(50_000, 'x');
    await assert.rejects(
      small.client.files.create({ file: await toFile(big, 'big.jsonl'), purpose: 'batch' }),
      (err: unknown) =>
        err instanceof OpenAI.BadRequestError && /File is too large/.test(err.message),
    );
    assert.deepEqual(await readdir(dataDir), []);
    assert.deepEqual(small.emu.stats().files, []);
    const fits = await small.client.files.create({
      file: await toFile(Buffer.alloc(10_000, 'x'), 'fits.jsonl'),
      purpose: 'batch',
    });
    assert.equal(fits.bytes, 10_000);
  } finally {
    await small.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('auth and unknown ids: 401 without a bearer key, 404 for unknown ids and routes', async () => {
  const noKey = await fetch(`${h.emu.url}/v1/batches`);
  assert.equal(noKey.status, 401);
  const body = (await noKey.json()) as { error: Record<string, unknown> };
  assert.equal(body.error.type, 'invalid_request_error');
  assert.match(String(body.error.message), /API key/);

  await assert.rejects(h.client.batches.retrieve('batch_nope'), OpenAI.NotFoundError);
  await assert.rejects(h.client.batches.cancel('batch_nope'), OpenAI.NotFoundError);
  await assert.rejects(h.client.files.retrieve('file-nope'), OpenAI.NotFoundError);
  const unknown = await fetch(`${h.emu.url}/v1/nothing`, {
    headers: { authorization: 'Bearer k' },
  });
  assert.equal(unknown.status, 404);

  const open = await startHarness({ requireAuth: false });
  try {
    assert.equal((await fetch(`${open.emu.url}/v1/batches`)).status, 200);
  } finally {
    await open.close();
  }
});

test('a chat batch completes with deterministic bodies, usage and shuffled output', async () => {
  const lines = [
    ...chatLines(6),
    chatLine('capped', 'Keep it short please.', { max_tokens: 3 }),
    chatLine('capped-2', 'Short too.', { max_completion_tokens: 5 }),
  ];
  const created = await createBatch(h.client, lines, { metadata: { run: 'r1', attempt: '1' } });
  assert.equal(created.status, 'validating');
  assert.deepEqual(created.metadata, { run: 'r1', attempt: '1' });
  assert.match(created.id, /^batch_/);
  const done = await waitFor(h.client, created.id);

  assert.equal(done.status, 'completed');
  assert.equal(done.model, 'gpt-4o-mini');
  for (const key of ['in_progress_at', 'finalizing_at', 'completed_at', 'expires_at'] as const) {
    assert.equal(typeof done[key], 'number', key);
  }
  assert.equal(done.failed_at, null);
  assert.equal(done.errors, null);
  assert.equal(done.error_file_id, null);
  assert.deepEqual(done.request_counts, { total: 8, completed: 8, failed: 0 });

  const output = await readLines(h.client, done.output_file_id);
  assert.notDeepEqual(
    output.map((l) => l.custom_id),
    lines.map((l) => l.custom_id),
    'output order is not input order',
  );
  assert.deepEqual(
    output.map((l) => l.custom_id).sort(),
    lines.map((l) => String(l.custom_id)).sort(),
  );
  let input = 0;
  let outputTokens = 0;
  for (const line of lines) {
    const result = output.find((l) => l.custom_id === line.custom_id) as Line;
    const response = result.response as { status_code: number; request_id: string; body: ChatBody };
    assert.match(String(result.id), /^batch_req_/);
    assert.equal(result.error, null);
    assert.equal(response.status_code, 200);
    assert.match(response.request_id, /^req_/);
    const usage = expectedUsage('/v1/chat/completions', line.body as Line, String(line.custom_id));
    assert.equal(response.body.object, 'chat.completion');
    assert.equal(response.body.usage.prompt_tokens, usage.input_tokens);
    assert.equal(response.body.usage.completion_tokens, usage.output_tokens);
    assert.equal(response.body.choices[0]?.message.content.split(' ').length, usage.output_tokens);
    input += usage.input_tokens;
    outputTokens += usage.output_tokens;
  }
  const capped = output.find((l) => l.custom_id === 'capped')?.response as { body: ChatBody };
  assert.equal(capped.body.usage.completion_tokens, 3);
  assert.equal(capped.body.choices[0]?.finish_reason, 'length');
  assert.deepEqual(done.usage, {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + outputTokens,
  });

  const outputFile = await h.client.files.retrieve(String(done.output_file_id));
  assert.equal(outputFile.purpose, 'batch_output');
  const stats = h.emu.stats();
  assert.equal(stats.submissions.capped, 1);
  const batchStat = stats.batches.find((b) => b.id === done.id);
  assert.equal(batchStat?.status, 'completed');
  assert.deepEqual(batchStat?.metadata, { run: 'r1', attempt: '1' });

  // Same requests again: same content and usage, new ids.
  const again = await waitFor(h.client, (await createBatch(h.client, lines)).id);
  const second = await readLines(h.client, again.output_file_id);
  for (const line of output) {
    const twin = second.find((l) => l.custom_id === line.custom_id) as Line;
    const a = (line.response as { body: ChatBody }).body;
    const b = (twin.response as { body: ChatBody }).body;
    assert.equal(a.choices[0]?.message.content, b.choices[0]?.message.content);
    assert.deepEqual(a.usage, b.usage);
    assert.notEqual(line.id, twin.id);
  }
  assert.equal(h.emu.stats().submissions.capped, 2);
});

interface ChatBody {
  object: string;
  choices: { message: { content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number };
}

test('responses, embeddings, completions and moderations get bodies shaped like OpenAI', async () => {
  const cases: {
    endpoint: '/v1/responses' | '/v1/embeddings' | '/v1/completions' | '/v1/moderations';
    body: Line;
    check: (body: Line) => void;
  }[] = [
    {
      endpoint: '/v1/responses',
      body: { model: 'gpt-4.1-mini', input: 'Write a haiku about batches.', max_output_tokens: 20 },
      check: (body) => {
        assert.equal(body.object, 'response');
        const output = body.output as { content: { type: string; text: string }[] }[];
        assert.equal(output[0]?.content[0]?.type, 'output_text');
        assert.equal((body.usage as Line).output_tokens, 20);
      },
    },
    {
      endpoint: '/v1/embeddings',
      body: { model: 'text-embedding-3-small', input: ['one', 'two'], dimensions: 8 },
      check: (body) => {
        const data = body.data as { embedding: number[]; index: number }[];
        assert.deepEqual(
          data.map((d) => [d.index, d.embedding.length]),
          [
            [0, 8],
            [1, 8],
          ],
        );
        assert.deepEqual(body.usage, { prompt_tokens: 2, total_tokens: 2 });
      },
    },
    {
      endpoint: '/v1/completions',
      body: { model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', max_tokens: 7 },
      check: (body) => {
        assert.equal(body.object, 'text_completion');
        assert.deepEqual(body.usage, { prompt_tokens: 4, completion_tokens: 7, total_tokens: 11 });
      },
    },
    {
      endpoint: '/v1/moderations',
      body: { model: 'omni-moderation-latest', input: ['fine text', 'more'] },
      check: (body) => {
        assert.equal((body.results as { flagged: boolean }[]).length, 2);
      },
    },
  ];
  for (const { endpoint, body, check } of cases) {
    const lines = ['a', 'b'].map((id) => ({ custom_id: id, method: 'POST', url: endpoint, body }));
    const batch = await waitFor(h.client, (await createBatch(h.client, lines, { endpoint })).id);
    assert.equal(batch.status, 'completed', endpoint);
    const output = await readLines(h.client, batch.output_file_id);
    assert.equal(output.length, 2);
    for (const line of output) check((line.response as { body: Line }).body);
    const usage = expectedUsage(endpoint, body, 'a');
    assert.equal(batch.usage?.input_tokens, 2 * usage.input_tokens, endpoint);
  }
});

test('batches.list pages newest first and the SDK iterates across pages', async () => {
  const fresh = await startHarness();
  try {
    const file = await upload(fresh.client, chatLines(1));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const batch = await fresh.client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      ids.push(batch.id);
    }
    const page = await fresh.client.batches.list({ limit: 2 });
    assert.deepEqual(
      page.data.map((b) => b.id),
      [ids[4], ids[3]],
    );
    assert.equal(page.has_more, true);
    const listed: string[] = [];
    for await (const batch of fresh.client.batches.list({ limit: 2 })) listed.push(batch.id);
    assert.deepEqual(listed, [...ids].reverse());
    await assert.rejects(fresh.client.batches.list({ limit: 101 }), OpenAI.BadRequestError);
    await Promise.all(ids.map((id) => waitFor(fresh.client, id)));
  } finally {
    await fresh.close();
  }
});

test('batches.create checks its parameters like OpenAI', async () => {
  const { client } = h;
  const file = await upload(client, chatLines(1));
  const base = {
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  } as const;
  const bad = async (params: Record<string, unknown>, param: string) => {
    await assert.rejects(
      client.batches.create({ ...base, ...params } as never),
      (err: unknown) =>
        err instanceof OpenAI.BadRequestError && String(err.param).startsWith(param),
    );
  };
  await bad({ completion_window: '1h' }, 'completion_window');
  await bad({ endpoint: '/v1/assistants' }, 'endpoint');
  await bad({ input_file_id: undefined }, 'input_file_id');
  await bad(
    { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
    'metadata',
  );
  await bad({ metadata: { ['k'.repeat(65)]: 'v' } }, 'metadata');
  await bad({ metadata: { k: 'v'.repeat(513) } }, 'metadata');
  await bad(
    { output_expires_after: { anchor: 'created_at', seconds: 60 } },
    'output_expires_after',
  );
  const notes = await client.files.create({
    file: await toFile(Buffer.from('x'), 'n.txt'),
    purpose: 'user_data',
  });
  await bad({ input_file_id: notes.id }, 'input_file_id');
  await assert.rejects(
    client.batches.create({ ...base, input_file_id: 'file-missing' }),
    OpenAI.NotFoundError,
  );

  const ok = await client.batches.create({
    ...base,
    metadata: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v'.repeat(512)])),
    output_expires_after: { anchor: 'created_at', seconds: 3600 },
  });
  const done = await waitFor(client, ok.id);
  const output = await client.files.retrieve(String(done.output_file_id));
  assert.equal(output.expires_at, output.created_at + 3600);
  await assert.rejects(client.batches.cancel(done.id), OpenAI.BadRequestError);
});

test('webhooks: signed events verify with client.webhooks.unwrap; a failing receiver is retried', async () => {
  const secret = `whsec_${Buffer.from('emulator-test-secret-32-bytes!!!').toString('base64')}`;
  const received: { body: string; headers: IncomingHttpHeaders }[] = [];
  let calls = 0;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls++;
      // The first delivery fails, to make the emulator retry.
      if (calls === 1) {
        res.writeHead(500).end();
        return;
      }
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const hooked = await startHarness({ webhook: { url, secret } }, { webhookSecret: secret });
  try {
    const completed = await waitFor(
      hooked.client,
      (await createBatch(hooked.client, chatLines(2))).id,
    );
    const failed = await waitFor(
      hooked.client,
      (await createBatch(hooked.client, ['not json'])).id,
    );
    assert.equal(failed.status, 'failed');
    const deadline = Date.now() + 3000;
    while (received.length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));

    const events = [];
    for (const { body, headers } of received) {
      events.push(await hooked.client.webhooks.unwrap(body, headers as Record<string, string>));
    }
    const byBatch = new Map(events.map((e) => [(e.data as { id: string }).id, e.type]));
    assert.equal(byBatch.get(completed.id), 'batch.completed');
    assert.equal(byBatch.get(failed.id), 'batch.failed');
    for (const event of events) {
      assert.match(event.id, /^evt_/);
      assert.equal(event.object, 'event');
    }
    const first = received[0];
    assert.ok(first);
    await assert.rejects(
      hooked.client.webhooks.unwrap(
        first.body.replace('batch_', 'batch_x'),
        first.headers as Record<string, string>,
      ),
      OpenAI.InvalidWebhookSignatureError,
    );
    const stats = hooked.emu.stats().webhooks;
    assert.equal(stats.length, 2);
    assert.ok(stats.every((s) => s.delivered));
    assert.equal(
      stats.reduce((sum, s) => sum + s.attempts, 0),
      3,
      'one retry after the 500',
    );
  } finally {
    await hooked.close();
    receiver.close();
  }
});

test('control API over HTTP: stats, faults, reset', async () => {
  const ctl = await startHarness();
  try {
    await createBatch(ctl.client, chatLines(2));
    const post = (path: string, body?: unknown) =>
      fetch(`${ctl.emu.url}/_emulator/${path}`, {
        method: 'POST',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const added = (await (
      await post('faults', { endpoint: 'files.list', kind: 'http_500', times: 1 })
    ).json()) as {
      id: string;
    };
    assert.match(added.id, /^fault_/);
    await assert.rejects(
      ctl.client.files.list(undefined, { maxRetries: 0 }),
      OpenAI.InternalServerError,
    );
    const bad = await post('faults', { kind: 'gremlins' });
    assert.equal(bad.status, 400);

    const stats = (await (await fetch(`${ctl.emu.url}/_emulator/stats`)).json()) as {
      calls: Record<string, { total: number; byStatus: Record<string, number> }>;
      batches: unknown[];
      faults: { id: string; fired: number }[];
    };
    assert.deepEqual(stats.calls['files.list'], { total: 1, byStatus: { '500': 1 } });
    assert.deepEqual(stats.calls['files.create'], { total: 1, byStatus: { '200': 1 } });
    assert.equal(stats.batches.length, 1);
    assert.deepEqual(
      stats.faults.map((f) => [f.id, f.fired]),
      [[added.id, 1]],
    );

    await fetch(`${ctl.emu.url}/_emulator/faults`, { method: 'DELETE' });
    assert.deepEqual(ctl.emu.stats().faults, []);
    assert.equal((await post('reset')).status, 200);
    const empty = ctl.emu.stats();
    assert.deepEqual([empty.batches, empty.files, empty.calls], [[], [], {}]);
  } finally {
    await ctl.close();
  }
});

test('every JSON response the SDK received matches the OpenAPI schema', async () => {
  const validate = await specValidator();
  assert.notEqual(validate('Batch', { id: 'batch_1' }), null, 'the validator is not vacuous');
  const checked = await assertResponsesMatchSpec();
  assert.ok(checked > 50, `only ${checked} responses recorded`);
});
