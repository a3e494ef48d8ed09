import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { EmulatorOptions } from '../src/emulator/index.js';
import {
  type AnthropicHarness,
  messageRequest,
  messageRequests,
  resultsOf,
  startAnthropicHarness,
  waitEnded,
} from './helpers/anthropic.js';

let h: AnthropicHarness;
before(async () => {
  h = await startAnthropicHarness({ seed: 5 });
});
after(() => h.close());

/** Runs `body` against an emulator of its own (for timings and faults), closed afterwards. */
async function withEmulator(
  options: EmulatorOptions,
  body: (h: AnthropicHarness) => Promise<void>,
): Promise<void> {
  const own = await startAnthropicHarness({ seed: 5, ...options });
  try {
    await body(own);
  } finally {
    await own.close();
  }
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

test('create, retrieve, results and delete through the official SDK', async () => {
  const { client, emu } = h;
  const created = await client.messages.batches.create({
    requests: [
      ...messageRequests(3),
      messageRequest('sys', 'Hi', { system: 'Be brief.', model: 'claude-sonnet-4-0' }),
    ],
  });
  assert.match(created.id, /^msgbatch_/);
  assert.equal(created.type, 'message_batch');
  assert.equal(created.processing_status, 'in_progress');
  assert.deepEqual(created.request_counts, {
    processing: 4,
    succeeded: 0,
    errored: 0,
    canceled: 0,
    expired: 0,
  });
  assert.equal(created.results_url, null);
  assert.equal(created.ended_at, null);
  assert.match(created.created_at, RFC3339);
  assert.match(created.expires_at, RFC3339);

  const ended = await waitEnded(client, created.id);
  assert.deepEqual(ended.request_counts, {
    processing: 0,
    succeeded: 4,
    errored: 0,
    canceled: 0,
    expired: 0,
  });
  assert.match(ended.ended_at ?? '', RFC3339);
  assert.equal(ended.cancel_initiated_at, null);
  assert.equal(ended.results_url, `${emu.url}/v1/messages/batches/${created.id}/results`);

  const results = await resultsOf(client, created.id);
  assert.deepEqual(
    results.map((r) => [r.custom_id, r.result.type]),
    [
      ['r-0', 'succeeded'],
      ['r-1', 'succeeded'],
      ['r-2', 'succeeded'],
      ['sys', 'succeeded'],
    ],
  );
  const sys = results.at(-1)?.result;
  assert.ok(sys?.type === 'succeeded');
  assert.match(sys.message.id, /^msg_/);
  assert.equal(sys.message.type, 'message');
  assert.equal(sys.message.role, 'assistant');
  assert.equal(sys.message.model, 'claude-sonnet-4-0', 'a batch may mix models');
  assert.equal(sys.message.stop_reason, 'end_turn');
  const [block] = sys.message.content;
  assert.ok(block?.type === 'text' && block.text.length > 0);
  // "Be brief." and "Hi": 11 characters, 3 tokens.
  assert.equal(sys.message.usage.input_tokens, 3);

  const again = await resultsOf(client, created.id);
  assert.deepEqual(
    again.map((r) => r.result),
    results.map((r) => r.result),
    'results are deterministic',
  );

  assert.deepEqual(await client.messages.batches.delete(created.id), {
    id: created.id,
    type: 'message_batch_deleted',
  });
  await assert.rejects(client.messages.batches.retrieve(created.id), Anthropic.NotFoundError);
  const stats = emu.stats();
  assert.equal(stats.calls['messages.batches.create']?.total, 1);
  assert.equal(stats.calls['messages.batches.delete']?.byStatus['200'], 1);
  assert.equal(stats.batches.find((b) => b.id === created.id)?.api, 'anthropic');
  assert.equal(stats.submissions.sys, 1);
});

test('list pages newest first with limit, after_id and before_id; each API sees its own', async () => {
  await withEmulator({}, async ({ client, emu }) => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await client.messages.batches.create({ requests: messageRequests(1) })).id);
    }
    const newestFirst = [...ids].reverse();
    const seen: string[] = [];
    for await (const batch of client.messages.batches.list({ limit: 2 })) seen.push(batch.id);
    assert.deepEqual(seen, newestFirst);

    const first = await client.messages.batches.list({ limit: 2 });
    assert.deepEqual(
      first.data.map((b) => b.id),
      newestFirst.slice(0, 2),
    );
    assert.equal(first.has_more, true);
    assert.equal(first.first_id, newestFirst[0]);
    assert.equal(first.last_id, newestFirst[1]);
    const before = await client.messages.batches.list({ before_id: ids[1], limit: 2 });
    assert.deepEqual(
      before.data.map((b) => b.id),
      [ids[3], ids[2]],
    );
    assert.equal(before.has_more, true);

    const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${emu.url}/v1`, maxRetries: 0 });
    assert.deepEqual((await openai.batches.list()).data, []);
    await assert.rejects(openai.batches.retrieve(ids[0] as string), OpenAI.NotFoundError);
  });
});

test('x-api-key and anthropic-version are required; errors come in Anthropic’s shape', async () => {
  const url = `${h.emu.url}/v1/messages/batches`;
  const call = async (headers: Record<string, string>) => {
    const response = await fetch(url, { headers });
    const body = (await response.json()) as { error: { type: string; message: string } };
    return { status: response.status, body };
  };
  const { status, body } = await call({ 'anthropic-version': '2023-06-01' });
  assert.equal(status, 401);
  assert.match(JSON.stringify(body), /^\{"type":"error","error":\{"type":"authentication_error"/);
  assert.equal(body.error.message, 'x-api-key header is required');
  const bearer = await call({ authorization: 'Bearer sk-test', 'anthropic-version': '2023-06-01' });
  assert.equal(bearer.status, 200, 'the official SDK sends its key as a Bearer token');
  const noVersion = await call({ 'x-api-key': 'sk-ant-test' });
  assert.equal(noVersion.status, 400);
  assert.equal(noVersion.body.error.type, 'invalid_request_error');
  assert.match(noVersion.body.error.message, /anthropic-version/);
  assert.equal((await call({ 'x-api-key': 'k', 'anthropic-version': '2023-06-01' })).status, 200);

  const openaiRoute = await fetch(`${h.emu.url}/v1/batches`, { headers: { 'x-api-key': 'k' } });
  assert.equal(openaiRoute.status, 401, 'OpenAI routes keep asking for a Bearer token');
  const missing = await fetch(`${url}/msgbatch_nope`, {
    headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
  });
  assert.equal(missing.status, 404);
  assert.equal(
    ((await missing.json()) as { error: { type: string } }).error.type,
    'not_found_error',
  );
});

test('requests are checked at create: custom_id pattern and uniqueness, a non-empty list', async () => {
  const { client } = h;
  const refused = async (requests: unknown[], message: RegExp) => {
    const err = await client.messages.batches
      .create({ requests } as Anthropic.Messages.BatchCreateParams)
      .then(
        () => assert.fail('created'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof Anthropic.BadRequestError, String(err));
    const body = err.error as { error: { type: string; message: string } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, message);
  };
  await refused([messageRequest('has space', 'x')], /requests\.0\.custom_id/);
  await refused([messageRequest('x'.repeat(65), 'x')], /custom_id/);
  await refused([messageRequest('a', 'x'), messageRequest('a', 'y')], /requests\.1\.custom_id/);
  await refused([], /at least 1/);
  await refused([{ custom_id: 'a', params: 'no' }], /requests\.0\.params/);
  assert.equal(h.emu.stats().calls['messages.batches.create']?.byStatus['400'], 5);
});

test('a request the Messages API would refuse comes back errored, the others succeed', async () => {
  const { client } = h;
  const { id } = await client.messages.batches.create({
    requests: [
      messageRequest('ok', 'x'),
      { custom_id: 'no-max', params: { model: 'm', messages: [] } } as never,
    ],
  });
  await waitEnded(client, id);
  const [noMax, ok] = await resultsOf(client, id);
  assert.equal(ok?.result.type, 'succeeded');
  assert.ok(noMax?.result.type === 'errored');
  assert.equal(noMax.result.error.type, 'error');
  assert.equal(noMax.result.error.error.type, 'invalid_request_error');
  assert.match(noMax.result.error.error.message, /max_tokens/);
});

test('expiry part-way: ended with succeeded and expired counts and results', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'expire_at_fraction', fraction: 0.5 });
    const { id } = await client.messages.batches.create({ requests: messageRequests(10) });
    const ended = await waitEnded(client, id);
    assert.deepEqual(ended.request_counts, {
      processing: 0,
      succeeded: 5,
      errored: 0,
      canceled: 0,
      expired: 5,
    });
    assert.equal(ended.cancel_initiated_at, null);
    const types = (await resultsOf(client, id)).map((r) => r.result.type).sort();
    assert.deepEqual(types, [...Array(5).fill('expired'), ...Array(5).fill('succeeded')]);
  }));

test('cancel: canceling, then ended with canceled results; ended batches refuse cancel, running ones delete', () =>
  withEmulator({ timing: { perRequestMs: 200, cancellingMs: 50 } }, async ({ client }) => {
    const { id } = await client.messages.batches.create({ requests: messageRequests(20) });
    await assert.rejects(client.messages.batches.delete(id), Anthropic.BadRequestError);
    const cancelling = await client.messages.batches.cancel(id);
    assert.equal(cancelling.processing_status, 'canceling');
    assert.match(cancelling.cancel_initiated_at ?? '', RFC3339);
    assert.equal((await client.messages.batches.cancel(id)).processing_status, 'canceling');
    const ended = await waitEnded(client, id);
    assert.equal(ended.request_counts.processing, 0);
    assert.equal(ended.request_counts.succeeded + ended.request_counts.canceled, 20);
    assert.ok(ended.request_counts.canceled > 0);
    const results = await resultsOf(client, id);
    assert.equal(
      results.filter((r) => r.result.type === 'canceled').length,
      ended.request_counts.canceled,
    );
    await assert.rejects(client.messages.batches.cancel(id), Anthropic.BadRequestError);
  }));

test('late_file_ids: the first reads of an ended batch have no results_url', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'late_file_ids', reads: 2 });
    const { id } = await client.messages.batches.create({ requests: messageRequests(2) });
    const ended = await waitEnded(client, id);
    assert.equal(ended.results_url, null);
    await assert.rejects(client.messages.batches.results(id), /No batch `results_url`/);
    assert.notEqual((await client.messages.batches.retrieve(id)).results_url, null);
    assert.equal((await resultsOf(client, id)).length, 2);
  }));

test('line errors become errored results with Anthropic error types', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'line_error', statusCode: 529, lineRate: 0.5, times: 1 });
    const overloaded = await client.messages.batches.create({ requests: messageRequests(4) });
    emu.addFault({ kind: 'line_error', statusCode: 400, lineRate: 1, times: 1 });
    const refused = await client.messages.batches.create({ requests: messageRequests(2) });
    const ended = await waitEnded(client, overloaded.id);
    assert.equal(ended.request_counts.errored, 2);
    assert.equal(ended.request_counts.succeeded, 2);
    const errorTypes = async (id: string) => {
      await waitEnded(client, id);
      return (await resultsOf(client, id)).flatMap((r) =>
        r.result.type === 'errored' ? [r.result.error.error.type] : [],
      );
    };
    assert.deepEqual(await errorTypes(overloaded.id), ['overloaded_error', 'overloaded_error']);
    assert.deepEqual(await errorTypes(refused.id), [
      'invalid_request_error',
      'invalid_request_error',
    ]);
  }));

test('HTTP faults target Anthropic endpoints and answer in its shape, with retry-after', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({
      kind: 'http_429',
      endpoint: 'messages.batches.create',
      times: 1,
      retryAfterSeconds: 2,
    });
    emu.addFault({ kind: 'http_503', endpoint: 'messages.batches.list', times: 1 });
    const err = await client.messages.batches
      .create({ requests: messageRequests(1) })
      .catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.RateLimitError);
    assert.equal(err.headers?.get('retry-after'), '2');
    assert.equal((err.error as { error: { type: string } }).error.type, 'rate_limit_error');
    const listed = await client.messages.batches.list().catch((e: unknown) => e);
    assert.ok(listed instanceof Anthropic.APIError && listed.status === 503);
    assert.equal((listed.error as { error: { type: string } }).error.type, 'overloaded_error');
    await client.messages.batches.create({ requests: messageRequests(1) });
    const calls = emu.stats().calls;
    assert.deepEqual(calls['messages.batches.create']?.byStatus, { '200': 1, '429': 1 });
    assert.deepEqual(calls['messages.batches.list']?.byStatus, { '503': 1 });
  }));

test('a batch that fails inside the emulator ends with every request errored', () =>
  withEmulator({}, async ({ client, emu }) => {
    emu.addFault({ kind: 'batch_token_limit', endpoint: 'messages.batches.create' });
    const { id } = await client.messages.batches.create({ requests: messageRequests(3) });
    const ended = await waitEnded(client, id);
    assert.equal(ended.request_counts.errored, 3);
    const results = await resultsOf(client, id);
    assert.deepEqual(
      results.map((r) => r.result.type),
      ['errored', 'errored', 'errored'],
    );
  }));
