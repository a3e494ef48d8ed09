import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { classifyRequest, type ProviderLine } from '../activities/classify.js';
import type { EmulatorOptions } from '../src/emulator/index.js';
import { AnthropicBatchProvider } from '../src/providers/anthropic/batches.js';
import type { BatchKey, LostCreate } from '../src/providers/provider.js';
import {
  type AnthropicHarness,
  messageRequests,
  startAnthropicHarness,
  waitEnded,
} from './helpers/anthropic.js';

const KEY: BatchKey = { runId: 'run-1', part: 1, attempt: 1, try: 1 };

async function withProvider(
  options: EmulatorOptions,
  body: (provider: AnthropicBatchProvider, h: AnthropicHarness) => Promise<void>,
): Promise<void> {
  const h = await startAnthropicHarness({ seed: 11, ...options });
  try {
    await body(new AnthropicBatchProvider(h.client), h);
  } finally {
    await h.close();
  }
}

/** A part's JSONL, as upload hands it to an inline provider. */
const partOf = (requests: object[]) => new Blob(requests.map((r) => `${JSON.stringify(r)}\n`));

const create = (provider: AnthropicBatchProvider, requests: object[]) =>
  provider.createBatch({
    key: KEY,
    input: { requests: partOf(requests) },
    endpoint: '/v1/chat/completions',
    model: 'claude-3-5-haiku-latest',
    metadata: {},
  });

async function linesOf(provider: AnthropicBatchProvider, id: string): Promise<ProviderLine[]> {
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of await provider.resultLines(id)) text += decoder.decode(chunk);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ProviderLine)
    .sort((a, b) => a.custom_id.localeCompare(b.custom_id));
}

/** What the activity passes after a lost create: sent just now, for these custom ids. */
function lostCreate(requests: { custom_id: string }[], sentAt: number): LostCreate {
  const ids = new Set(requests.map((r) => r.custom_id));
  return { since: sentAt - 5_000, requests: ids.size, owns: (id) => ids.has(id) };
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure, String(err));
  return err;
}

test('a completed batch: snapshot, results in OpenAI shape, deletion', () =>
  withProvider({}, async (provider, { client, emu }) => {
    const id = await create(provider, messageRequests(3));
    assert.match(id, /^msgbatch_/);
    const running = await provider.retrieveBatch(id);
    assert.deepEqual(running, {
      id,
      status: 'in_progress',
      requestCounts: { total: 3, completed: 0, failed: 0 },
      outputFileId: null,
      errorFileId: null,
      errors: [],
    });
    await waitEnded(client, id);
    const done = await provider.retrieveBatch(id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.requestCounts, { total: 3, completed: 3, failed: 0 });
    assert.equal(done.outputFileId, id, 'the results are the batch itself');

    const lines = await linesOf(provider, id);
    assert.equal(lines.length, 3);
    for (const line of lines) {
      assert.match(line.id ?? '', /^msg_/);
      assert.equal(line.error, null);
      assert.equal(line.response?.status_code, 200);
      assert.equal((line.response?.body as { type?: string } | undefined)?.type, 'message');
      assert.equal(classifyRequest(line, done.status).status, 'succeeded');
    }
    assert.deepEqual(await provider.cancelBatch(id), done, 'an ended batch is returned as it is');

    await provider.deleteFile(id);
    await provider.deleteFile(id);
    assert.equal(emu.stats().calls['messages.batches.delete']?.byStatus['404'], 1);
  }));

test('errored results carry the status of their error type: 5xx retried, 4xx final', () =>
  withProvider({}, async (provider, { client, emu }) => {
    emu.addFault({ kind: 'line_error', statusCode: 529, lineRate: 1, times: 1 });
    const overloaded = await create(provider, messageRequests(2, 'o'));
    emu.addFault({ kind: 'line_error', statusCode: 400, lineRate: 1, times: 1 });
    const refused = await create(provider, messageRequests(1, 'x'));
    await waitEnded(client, overloaded);
    await waitEnded(client, refused);
    const snapshot = await provider.retrieveBatch(overloaded);
    assert.equal(snapshot.status, 'completed');
    assert.deepEqual(snapshot.requestCounts, { total: 2, completed: 0, failed: 2 });

    const [line] = await linesOf(provider, overloaded);
    assert.equal(line?.response?.status_code, 529);
    assert.deepEqual((line?.response?.body as { error?: object } | undefined)?.error, {
      type: 'overloaded_error',
      message: 'The server had an error while processing your request. Sorry about that!',
    });
    const retried = classifyRequest(line, 'completed');
    assert.deepEqual(
      [retried.status, retried.retryable, retried.error?.code],
      ['failed', true, 'overloaded_error'],
    );
    const [bad] = await linesOf(provider, refused);
    assert.equal(bad?.response?.status_code, 400);
    const final = classifyRequest(bad, 'completed');
    assert.deepEqual(
      [final.status, final.retryable, final.error?.code],
      ['failed', false, 'invalid_request_error'],
    );
  }));

test('an expired batch: expired snapshot, batch_expired lines worth another attempt', () =>
  withProvider({}, async (provider, { client, emu }) => {
    emu.addFault({ kind: 'expire_at_fraction', fraction: 0.5 });
    const id = await create(provider, messageRequests(4));
    await waitEnded(client, id);
    const snapshot = await provider.retrieveBatch(id);
    assert.equal(snapshot.status, 'expired');
    assert.deepEqual(snapshot.requestCounts, { total: 4, completed: 2, failed: 0 });
    const expired = (await linesOf(provider, id)).filter((l) => l.response === null);
    assert.equal(expired.length, 2);
    for (const line of expired) {
      assert.equal(line.error?.code, 'batch_expired');
      assert.deepEqual(
        [classifyRequest(line, 'expired').status, classifyRequest(line, 'expired').retryable],
        ['expired', true],
      );
    }
  }));

test('cancelling, then cancelled with batch_cancelled lines', () =>
  withProvider({ timing: { perRequestMs: 100, cancellingMs: 300 } }, async (provider, h) => {
    const id = await create(provider, messageRequests(10));
    const cancelling = await provider.cancelBatch(id);
    assert.equal(cancelling.status, 'cancelling');
    assert.equal(cancelling.outputFileId, null);
    await waitEnded(h.client, id);
    const cancelled = await provider.retrieveBatch(id);
    assert.equal(cancelled.status, 'cancelled');
    const lines = await linesOf(provider, id);
    assert.equal(lines.length, 10);
    const unrun = lines.filter((l) => l.error?.code === 'batch_cancelled');
    assert.equal(unrun.length, 10 - cancelled.requestCounts.completed);
    assert.equal(classifyRequest(unrun[0], 'cancelled').status, 'cancelled');
  }));

test('results not published yet: no output file id until results_url appears', () =>
  withProvider({}, async (provider, { client, emu }) => {
    emu.addFault({ kind: 'late_file_ids', reads: 2 });
    const id = await create(provider, messageRequests(1));
    await waitEnded(client, id);
    const late = await provider.retrieveBatch(id);
    assert.deepEqual([late.status, late.outputFileId], ['completed', null]);
    assert.equal((await provider.retrieveBatch(id)).outputFileId, id);
  }));

test('a create is sent once and its failures are mapped as for OpenAI', () =>
  withProvider({}, async (provider, { emu }) => {
    emu.addFault({ kind: 'http_500', endpoint: 'messages.batches.create', times: 1 });
    const outage = await failureOf(create(provider, messageRequests(1)));
    assert.equal(outage.type, 'ProviderUnavailable');
    assert.equal(emu.stats().calls['messages.batches.create']?.total, 1, 'never retried inside');
    emu.addFault({
      kind: 'http_429',
      endpoint: 'messages.batches.create',
      times: 1,
      retryAfterSeconds: 3,
    });
    const limited = await failureOf(create(provider, messageRequests(1)));
    assert.deepEqual([limited.type, limited.nextRetryDelay], ['ProviderUnavailable', 3000]);
    const refused = await failureOf(create(provider, [{ custom_id: 'bad id', params: {} }]));
    assert.equal(refused.type, 'ProviderRejected');
    assert.match(refused.message, /create batch: 400 .*custom_id/);
    emu.addFault({ kind: 'http_503', endpoint: 'messages.batches.retrieve', times: 1 });
    assert.equal(
      (await failureOf(provider.retrieveBatch('msgbatch_x'))).type,
      'ProviderUnavailable',
    );
    assert.equal((await failureOf(provider.retrieveBatch('msgbatch_x'))).type, 'ProviderRejected');
  }));

test('findBatch without a lost create finds nothing; with one, the batch of its shape', () =>
  withProvider({}, async (provider) => {
    const requests = messageRequests(3, 'mine');
    const sentAt = Date.now();
    assert.equal(await provider.findBatch(KEY, lostCreate(requests, sentAt)), null, 'none yet');
    await create(provider, messageRequests(2, 'other'));
    assert.equal(await provider.findBatch(KEY, lostCreate(requests, sentAt)), null, 'wrong size');
    const id = await create(provider, requests);
    assert.equal(await provider.findBatch(KEY, null), null);
    assert.equal(await provider.findBatch(KEY, lostCreate(requests, sentAt)), id);
    const later = lostCreate(requests, Date.now() + 60_000);
    assert.equal(await provider.findBatch(KEY, later), null, 'created before since');
  }));

test('findBatch tells look-alikes apart by their results once they have ended', () =>
  withProvider({}, async (provider, { client, emu }) => {
    const mine = messageRequests(3, 'mine');
    const sentAt = Date.now();
    const other = await create(provider, messageRequests(3, 'theirs'));
    const id = await create(provider, mine);
    await waitEnded(client, other);
    await waitEnded(client, id);
    assert.equal(await provider.findBatch(KEY, lostCreate(mine, sentAt)), id);
    const stranger = lostCreate(messageRequests(3, 'nobody'), sentAt);
    assert.equal(await provider.findBatch(KEY, stranger), null, 'ended, and none is ours');
    const reads = emu.stats().calls['messages.batches.results']?.total ?? 0;
    assert.ok(reads >= 2 && reads <= 4, `only first lines are read (${reads} reads)`);
  }));

test('findBatch waits (CreateUnresolved) while look-alikes are still running', () =>
  withProvider({ timing: { perRequestMs: 5_000 } }, async (provider) => {
    const mine = messageRequests(2, 'mine');
    const sentAt = Date.now();
    await create(provider, messageRequests(2, 'theirs'));
    await create(provider, mine);
    const unresolved = await failureOf(provider.findBatch(KEY, lostCreate(mine, sentAt)));
    assert.equal(unresolved.type, 'CreateUnresolved');
    assert.equal(unresolved.nonRetryable, false);
    assert.match(unresolved.message, /2 batches look like the lost create/);
  }));
