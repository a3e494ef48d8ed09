import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';
import type { EmulatorOptions } from '../src/emulator/index.js';
import {
  assertResponsesMatchSpec,
  chatLine,
  chatLines,
  createBatch,
  type Harness,
  type Line,
  readLines,
  startHarness,
  upload,
  waitFor,
} from './helpers/emulator.js';

/** Runs `body` against a fresh emulator, closed afterwards whatever happens. */
async function withEmulator(
  options: EmulatorOptions,
  body: (h: Harness) => Promise<void>,
  clientOptions: { maxRetries?: number } = {},
): Promise<void> {
  const h = await startHarness({ seed: 3, ...options }, clientOptions);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

const ids = (lines: Line[]) => lines.map((l) => String(l.custom_id)).sort();

test('validation fails the batch while validating, with OpenAI codes and line numbers', () =>
  withEmulator({}, async ({ client, emu }) => {
    const lines = [
      chatLine('ok-1', 'fine'),
      '{"custom_id": "broken", ',
      { method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini' } },
      chatLine('ok-1', 'again'),
      { ...chatLine('get', 'x'), method: 'GET' },
      { ...chatLine('url', 'x'), url: '/v1/embeddings' },
      chatLine('other-model', 'x', { model: 'gpt-4o' }),
      { custom_id: 'no-body', method: 'POST', url: '/v1/chat/completions' },
    ];
    const created = await createBatch(client, lines);
    assert.equal(created.status, 'validating', 'accepted at create time');
    const batch = await waitFor(client, created.id);
    assert.equal(batch.status, 'failed');
    assert.equal(typeof batch.failed_at, 'number');
    assert.equal(batch.in_progress_at, null);
    assert.deepEqual(
      batch.errors?.data?.map((e) => [e.code, e.line, e.param]),
      [
        ['invalid_json_line', 2, null],
        ['missing_required_parameter', 3, 'custom_id'],
        ['duplicate_custom_id', 4, 'custom_id'],
        ['invalid_method', 5, 'method'],
        ['invalid_url', 6, 'url'],
        ['mismatched_model', 7, 'body.model'],
        ['missing_required_parameter', 8, 'body'],
      ],
    );
    assert.equal(batch.output_file_id, null);
    assert.equal(batch.error_file_id, null);
    assert.deepEqual(emu.stats().submissions, {}, 'nothing was submitted');

    const empty = await waitFor(client, (await createBatch(client, [])).id);
    assert.deepEqual(
      empty.errors?.data?.map((e) => e.code),
      ['empty_file'],
    );
    const many = Array.from({ length: 50_001 }, (_, i) => JSON.stringify(chatLine(`r${i}`, 'hi')));
    const tooMany = await waitFor(client, (await createBatch(client, many)).id);
    assert.deepEqual(
      tooMany.errors?.data?.map((e) => e.code),
      ['too_many_lines'],
    );
  }));

test('a batch that outlives its completion window expires with partial results', () =>
  withEmulator({ timing: { perRequestMs: 10, completionWindowMs: 150 } }, async ({ client }) => {
    const lines = chatLines(40);
    const batch = await waitFor(client, (await createBatch(client, lines)).id);
    assert.equal(batch.status, 'expired');
    assert.equal(typeof batch.expired_at, 'number');
    const output = await readLines(client, batch.output_file_id);
    const errors = await readLines(client, batch.error_file_id);
    assert.ok(output.length > 0 && output.length < 40, `partial: ${output.length}`);
    assert.deepEqual(ids([...output, ...errors]), ids(lines));
    for (const line of errors) {
      assert.equal(line.response, null);
      assert.equal((line.error as { code: string }).code, 'batch_expired');
    }
    assert.deepEqual(batch.request_counts, { total: 40, completed: output.length, failed: 0 });
  }));

test('expire_at_fraction expires exactly that share; attempts filter picks the batches', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'expire_at_fraction', fraction: 0.3, attempts: [1] });
    const lines = chatLines(10);
    const first = await waitFor(
      client,
      (await createBatch(client, lines, { metadata: { attempt: '1' } })).id,
    );
    assert.equal(first.status, 'expired');
    assert.deepEqual(first.request_counts, { total: 10, completed: 3, failed: 0 });
    assert.equal((await readLines(client, first.output_file_id)).length, 3);
    assert.equal((await readLines(client, first.error_file_id)).length, 7);
    const retry = await waitFor(
      client,
      (await createBatch(client, lines, { metadata: { attempt: '2' } })).id,
    );
    assert.equal(retry.status, 'completed');
  }));

test("late_file_ids hides an ended batch's file ids from its first reads only", () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'late_file_ids', reads: 2, attempts: [1] });
    const ended = await waitFor(
      client,
      (await createBatch(client, chatLines(5), { metadata: { attempt: '1' } })).id,
    );
    // Reads while the batch ran did not count: the first read of it ended is the first hidden.
    assert.equal(ended.status, 'completed');
    assert.deepEqual(ended.request_counts, { total: 5, completed: 5, failed: 0 });
    assert.equal(ended.output_file_id, null);
    assert.equal((await client.batches.retrieve(ended.id)).output_file_id, null);
    const third = await client.batches.retrieve(ended.id);
    assert.equal((await readLines(client, third.output_file_id)).length, 5);
    const other = await waitFor(
      client,
      (await createBatch(client, chatLines(5), { metadata: { attempt: '2' } })).id,
    );
    assert.ok(other.output_file_id, 'batches the rule does not pick show their files at once');
    assert.equal(emu.stats().faults[0]?.fired, 1);
  }));

test('cancel keeps partial results and marks the rest batch_cancelled', () =>
  withEmulator({ timing: { perRequestMs: 15, cancellingMs: 30 } }, async ({ client }) => {
    const lines = chatLines(60);
    const created = await createBatch(client, lines);
    const running = await waitFor(client, created.id, ['in_progress']);
    const deadline = Date.now() + 3000;
    while ((await client.batches.retrieve(created.id)).request_counts?.completed === 0) {
      assert.ok(Date.now() < deadline);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(running.status, 'in_progress');
    const cancelling = await client.batches.cancel(created.id);
    assert.equal(cancelling.status, 'cancelling');
    assert.equal(typeof cancelling.cancelling_at, 'number');
    assert.equal((await client.batches.cancel(created.id)).status, 'cancelling', 'idempotent');
    const batch = await waitFor(client, created.id);
    assert.equal(batch.status, 'cancelled');
    assert.equal(typeof batch.cancelled_at, 'number');
    const output = await readLines(client, batch.output_file_id);
    const errors = await readLines(client, batch.error_file_id);
    assert.ok(output.length > 0 && output.length < 60, `partial: ${output.length}`);
    assert.equal(batch.request_counts?.completed, output.length);
    assert.deepEqual(ids([...output, ...errors]), ids(lines));
    assert.ok(errors.every((l) => (l.error as { code: string }).code === 'batch_cancelled'));
    await assert.rejects(client.batches.cancel(created.id), OpenAI.BadRequestError);
  }));

test('cancel while validating ends cancelled with every request unfinished', () =>
  withEmulator({ timing: { validatingMs: 200 } }, async ({ client, emu }) => {
    const created = await createBatch(client, chatLines(3));
    await client.batches.cancel(created.id);
    const batch = await waitFor(client, created.id);
    assert.equal(batch.status, 'cancelled');
    assert.equal(batch.output_file_id, null);
    assert.equal((await readLines(client, batch.error_file_id)).length, 3);
    assert.deepEqual(emu.stats().submissions, {});
  }));

test('token_limit_exceeded: by fault, and by the enqueued-token limit across running batches', async () => {
  await withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'batch_token_limit', times: 1 });
    const lines = chatLines(3);
    const failed = await waitFor(client, (await createBatch(client, lines)).id);
    assert.equal(failed.status, 'failed');
    assert.deepEqual(
      failed.errors?.data?.map((e) => [e.code, e.line ?? null]),
      [['token_limit_exceeded', null]],
    );
    assert.equal(
      (await waitFor(client, (await createBatch(client, lines)).id)).status,
      'completed',
    );
    assert.deepEqual(emu.stats().submissions['r-0'], 1, 'the failed batch submitted nothing');
  });
  // Each batch below has 50 requests of ceil(19 / 4) = 5 input tokens: 250 tokens.
  await withEmulator(
    { enqueuedTokenLimit: 400, timing: { perRequestMs: 5 } },
    async ({ client }) => {
      const first = await createBatch(client, chatLines(50, 'a'));
      await waitFor(client, first.id, ['in_progress']);
      const second = await waitFor(client, (await createBatch(client, chatLines(50, 'b'))).id);
      assert.equal(second.status, 'failed');
      assert.equal(second.errors?.data?.[0]?.code, 'token_limit_exceeded');
      assert.equal((await waitFor(client, first.id)).status, 'completed');
      const third = await waitFor(client, (await createBatch(client, chatLines(50, 'c'))).id);
      assert.equal(third.status, 'completed', 'room again once the first finished');
    },
  );
});

test('line_error puts that share of lines in the error file with their HTTP status', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'line_error', statusCode: 500, lineRate: 0.3, times: 1 });
    const lines = [...chatLines(10), chatLine('no-model', 'hi', { model: undefined })];
    const batch = await waitFor(client, (await createBatch(client, lines)).id);
    assert.equal(batch.status, 'completed');
    const output = await readLines(client, batch.output_file_id);
    const errors = await readLines(client, batch.error_file_id);
    assert.equal(errors.length, 4);
    assert.deepEqual(batch.request_counts, { total: 11, completed: 7, failed: 4 });
    const statuses = errors.map((l) => (l.response as { status_code: number }).status_code).sort();
    assert.deepEqual(statuses, [400, 500, 500, 500]);
    for (const line of errors) {
      assert.equal(line.error, null);
      const { body } = line.response as { body: { error: { type: string } } };
      assert.ok(['server_error', 'invalid_request_error'].includes(body.error.type));
    }
    const served = output.map(
      (l) => (l.response as { body: { usage: { prompt_tokens: number } } }).body,
    );
    const input = served.reduce((sum, body) => sum + body.usage.prompt_tokens, 0);
    assert.equal(batch.usage?.input_tokens, input, 'usage counts only successful lines');
  }));

test('invalid_output: that share of structured outputs misses the schema; the rest are instances of it', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'invalid_output', lineRate: 0.5, times: 1 });
    const schema = {
      type: 'object',
      properties: {
        label: { enum: ['a', 'b'] },
        tags: { type: 'array', items: { type: 'string' }, minItems: 2 },
        score: { type: 'number', minimum: 0.5 },
        ok: { type: 'boolean' },
        note: { type: 'string' },
      },
      required: ['label', 'tags', 'score', 'ok'],
    };
    const format = { type: 'json_schema', json_schema: { name: 's', schema } };
    const lines = Array.from({ length: 10 }, (_, i) =>
      chatLine(`s-${i}`, 'hi', { response_format: format }),
    );
    const batch = await waitFor(client, (await createBatch(client, lines)).id);
    assert.deepEqual(batch.request_counts, { total: 10, completed: 10, failed: 0 });
    const texts = (await readLines(client, batch.output_file_id)).map(
      (l) =>
        (l.response as { body: { choices: { message: { content: string } }[] } }).body.choices[0]
          ?.message.content,
    );
    const valid = JSON.stringify({ label: 'a', tags: ['', ''], score: 0.5, ok: true });
    assert.equal(texts.filter((t) => t === valid).length, 5);
    assert.ok(texts.includes('null'), 'a mismatch');
    assert.ok(texts.includes(valid.slice(0, -1)), 'cut-off JSON');
  }));

test('http_429 with retry-after: the SDK waits and retries; without retries it surfaces', () =>
  withEmulator({}, async ({ client, emu }) => {
    const batch = await createBatch(client, chatLines(1));
    emu.addFault({
      endpoint: 'batches.retrieve',
      kind: 'http_429',
      times: 2,
      retryAfterSeconds: 0.05,
    });
    const started = Date.now();
    assert.equal((await client.batches.retrieve(batch.id)).id, batch.id);
    assert.ok(Date.now() - started >= 100, 'waited the retry-after twice');
    assert.deepEqual(emu.stats().calls['batches.retrieve'], {
      total: 3,
      byStatus: { '429': 2, '200': 1 },
    });

    emu.addFault({
      endpoint: 'batches.retrieve',
      kind: 'http_429',
      times: 1,
      retryAfterSeconds: 2,
    });
    await assert.rejects(client.batches.retrieve(batch.id, { maxRetries: 0 }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.headers.get('retry-after'), '2');
      assert.equal(err.code, 'rate_limit_exceeded');
      return true;
    });
  }));

test('http_500 and http_503 are retried by the SDK, or surface with maxRetries 0', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ endpoint: 'files.list', kind: 'http_500', times: 1, retryAfterSeconds: 0.01 });
    await client.files.list();
    await assert.rejects(
      (async () => {
        emu.addFault({ endpoint: '*', kind: 'http_503', times: 1 });
        await client.files.list({}, { maxRetries: 0 });
      })(),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 503,
    );
    assert.deepEqual(emu.stats().calls['files.list']?.byStatus, { '500': 1, '200': 1, '503': 1 });
  }));

test('reset destroys the connection: the SDK retries it, or reports a connection error', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ endpoint: 'files.create', kind: 'reset', times: 1 });
    const file = await upload(client, chatLines(2));
    assert.match(file.id, /^file-/);
    assert.deepEqual(emu.stats().calls['files.create']?.byStatus, { reset: 1, '200': 1 });
    emu.addFault({ endpoint: 'batches.create', kind: 'reset', times: 1 });
    await assert.rejects(
      client.batches.create(
        { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
        { maxRetries: 0 },
      ),
      OpenAI.APIConnectionError,
    );
    assert.equal(emu.stats().batches.length, 0, 'no batch was created by the reset call');
  }));

test('truncate cuts a download short so the reader fails; the next download is whole', () =>
  withEmulator({}, async ({ client, emu }) => {
    const batch = await waitFor(client, (await createBatch(client, chatLines(50))).id);
    emu.addFault({ endpoint: 'files.content', kind: 'truncate', times: 1, fraction: 0.4 });
    const response = await client.files.content(String(batch.output_file_id));
    await assert.rejects(response.text());
    assert.equal((await readLines(client, batch.output_file_id)).length, 50);
    assert.deepEqual(emu.stats().calls['files.content']?.byStatus, { truncated: 1, '200': 1 });
  }));

test('slow delays the answer; rate applies deterministically by seed', async () => {
  const pattern = async (): Promise<number[]> => {
    const hits: number[] = [];
    await withEmulator(
      { seed: 42 },
      async ({ client, emu }) => {
        emu.addFault({ endpoint: 'files.list', kind: 'http_500', rate: 0.5 });
        for (let i = 0; i < 20; i++) {
          const failed = await client.files.list().then(
            () => false,
            () => true,
          );
          if (failed) hits.push(i);
        }
      },
      { maxRetries: 0 },
    );
    return hits;
  };
  const first = await pattern();
  assert.ok(first.length > 3 && first.length < 17, `about half: ${first.length}`);
  assert.deepEqual(await pattern(), first);

  await withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ endpoint: 'files.list', kind: 'slow', delayMs: 150, times: 1 });
    const started = Date.now();
    await client.files.list();
    assert.ok(Date.now() - started >= 150);
  });
});

test('a larger batch streams through: 20,000 requests, counts and files consistent', () =>
  withEmulator({ timing: { perRequestMs: 0 } }, async ({ client, emu }) => {
    const lines = chatLines(20_000);
    const batch = await waitFor(client, (await createBatch(client, lines)).id, undefined, 15_000);
    assert.equal(batch.status, 'completed');
    assert.deepEqual(batch.request_counts, { total: 20_000, completed: 20_000, failed: 0 });
    const stats = emu.stats();
    assert.equal(stats.files.find((f) => f.id === batch.output_file_id)?.lines, 20_000);
    assert.equal(Object.keys(stats.submissions).length, 20_000);
  }));

test('every JSON response the SDK received matches the OpenAPI schema', async () => {
  const checked = await assertResponsesMatchSpec();
  assert.ok(checked > 50, `only ${checked} responses recorded`);
});
