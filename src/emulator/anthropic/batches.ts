// Anthropic's Message Batches API, as published:
//   https://docs.anthropic.com/en/api/creating-message-batches
//   https://docs.anthropic.com/en/api/retrieving-message-batches
//   https://docs.anthropic.com/en/api/listing-message-batches
//   https://docs.anthropic.com/en/api/canceling-message-batches
//   https://docs.anthropic.com/en/api/retrieving-message-batch-results
//   https://docs.anthropic.com/en/api/deleting-message-batches
//   https://docs.anthropic.com/en/docs/build-with-claude/batch-processing (limits)
// and as the official SDK types it (@anthropic-ai/sdk, resources/messages/batches.d.ts).
//
// A facade over the OpenAI side's store and BatchProcessor: a create writes its requests as an
// internal JSONL file of OpenAI-shaped lines (`url: '/v1/messages'`, `body` = the params) and
// starts an internal batch, so timing, faults and stats are the same for both APIs; the routes
// map the internal batch and its output and error lines to Anthropic's objects.
import { once } from 'node:events';
import { link, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { startBatch, takeHiddenFilesRead } from '../batches-routes.js';
import type { Handler, Route } from '../context.js';
import { ApiError, badRequest } from '../errors.js';
import { MESSAGES_ENDPOINT } from '../fake-responses.js';
import { intParam, readJson, sendJson } from '../http.js';
import { MAX_MESSAGE_BATCH_REQUESTS, rawLines } from '../input-scan.js';
import { randomId } from '../random.js';
import type { UnfinishedCode } from '../result-writer.js';
import { type BatchRecord, ENDED_STATUSES, type Store } from '../store.js';
import { ANTHROPIC, anthropicErrorBody } from './errors.js';

const MAX_BATCH_BYTES = 256 * 1024 * 1024;
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
/** The internal file of a batch's requests: not `batch`, so OpenAI's batch uploads list none. */
const REQUESTS_PURPOSE = 'anthropic_batch_requests';

const iso = (seconds: number | null) =>
  seconds === null ? null : new Date(seconds * 1000).toISOString();

/** An internal output or error line, as the result writer writes it. */
interface InternalLine {
  custom_id: string;
  response: { status_code: number; request_id: string; body: unknown } | null;
  error: { code: UnfinishedCode; message: string } | null;
}

function processingStatus(batch: BatchRecord) {
  if (ENDED_STATUSES.has(batch.status)) return 'ended';
  return batch.status === 'cancelling' ? 'canceling' : 'in_progress';
}

/**
 * Requests count as `processing` until the whole batch has ended, as Anthropic's do; a batch
 * that failed inside the emulator (an injected token limit) ends with every request errored.
 */
function requestCounts(batch: BatchRecord, total: number) {
  const counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  if (!ENDED_STATUSES.has(batch.status)) return { ...counts, processing: total };
  if (batch.status === 'failed') return { ...counts, errored: total };
  const { completed, failed } = batch.progress().request_counts;
  const unfinished = total - completed - failed;
  return {
    ...counts,
    succeeded: completed,
    errored: failed,
    canceled: batch.status === 'cancelled' ? unfinished : 0,
    expired: batch.status === 'expired' ? unfinished : 0,
  };
}

function messageBatchObject(
  store: Store,
  batch: BatchRecord,
  origin: string,
  { hideResults = false } = {},
) {
  const ended = ENDED_STATUSES.has(batch.status);
  const total = store.getFile(batch.input_file_id).lines;
  return {
    id: batch.id,
    type: 'message_batch',
    processing_status: processingStatus(batch),
    request_counts: requestCounts(batch, total),
    ended_at: iso(batch.completed_at ?? batch.expired_at ?? batch.cancelled_at ?? batch.failed_at),
    created_at: iso(batch.created_at),
    expires_at: iso(batch.expires_at),
    cancel_initiated_at: iso(batch.cancelling_at),
    archived_at: null,
    results_url: ended && !hideResults ? `${origin}/v1/messages/batches/${batch.id}/results` : null,
  };
}

/** Where the client reached us: results_url is absolute, and the SDK follows it as it is. */
const originOf = (headers: { host?: string }) => `http://${headers.host ?? 'localhost'}`;

const createMessageBatch: Handler = async (call) => {
  const { state, req, res } = call;
  const body = await readJson(req, MAX_BATCH_BYTES);
  const requests = parseRequests(body.requests);
  const text = requests
    .map(
      ({ custom_id, params }) =>
        `${JSON.stringify({ custom_id, method: 'POST', url: MESSAGES_ENDPOINT, body: params })}\n`,
    )
    .join('');
  const id = randomId('msgbatch_', 12);
  const path = state.store.newFilePath();
  await writeFile(path, text);
  const file = state.store.addFile(
    {
      filename: `${id}_requests.jsonl`,
      purpose: REQUESTS_PURPOSE,
      bytes: Buffer.byteLength(text),
      lines: requests.length,
      path,
    },
    null,
  );
  // The run removes its input when it ends; the file stays for the results of a failed batch.
  const inputPath = state.store.newFilePath();
  await link(path, inputPath);
  const batch = startBatch(call, {
    id,
    api: 'anthropic',
    endpoint: MESSAGES_ENDPOINT,
    input_file_id: file.id,
    input_path: inputPath,
    metadata: null,
    output_expires_after_seconds: null,
    // Anthropic's batches carry no metadata, so no attempt for a rule's `attempts` to match.
    faults: state.faults.takeBatchFaults('messages.batches.create', undefined),
  });
  sendJson(res, 200, messageBatchObject(state.store, batch, originOf(req.headers)));
};

function parseRequests(value: unknown): { custom_id: string; params: object }[] {
  if (!Array.isArray(value)) throw badRequest('requests: Field required');
  if (value.length === 0) throw badRequest('requests: List should have at least 1 item');
  if (value.length > MAX_MESSAGE_BATCH_REQUESTS) {
    throw badRequest(
      `requests: List should have at most ${MAX_MESSAGE_BATCH_REQUESTS} items after validation, not ${value.length}`,
    );
  }
  const seen = new Set<string>();
  return value.map((request: unknown, i) => {
    const { custom_id: customId, params } = (request ?? {}) as Record<string, unknown>;
    if (typeof customId !== 'string' || !CUSTOM_ID.test(customId)) {
      throw badRequest(
        `requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`,
      );
    }
    if (seen.has(customId)) {
      throw badRequest(
        `requests.${i}.custom_id: Duplicate custom_id '${customId}'; custom_id values must be unique within a batch`,
      );
    }
    seen.add(customId);
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      throw badRequest(`requests.${i}.params: Input should be a valid dictionary`);
    }
    return { custom_id: customId, params };
  });
}

const retrieveMessageBatch: Handler = async ({ state, req, res, id }) => {
  const batch = state.store.getBatch(id, 'anthropic');
  const hideResults = takeHiddenFilesRead(batch);
  sendJson(
    res,
    200,
    messageBatchObject(state.store, batch, originOf(req.headers), { hideResults }),
  );
};

/** Newest first; `after_id` pages towards older batches, `before_id` towards newer ones. */
const listMessageBatches: Handler = async ({ state, req, res, query }) => {
  const limit = intParam(query, 'limit', 20, 1, 1000);
  const all = state.store.batchesOf('anthropic');
  const seqOf = (param: string) => {
    const cursor = state.store.allBatches().find((b) => b.id === query.get(param));
    if (!cursor) throw badRequest(`${param}: no message batch with this id`);
    return cursor.seq;
  };
  let page: BatchRecord[];
  let hasMore: boolean;
  if (query.has('before_id')) {
    const newer = all.filter((b) => b.seq > seqOf('before_id'));
    page = newer.slice(-limit);
    hasMore = newer.length > limit;
  } else {
    const rest = query.has('after_id') ? all.filter((b) => b.seq < seqOf('after_id')) : all;
    page = rest.slice(0, limit);
    hasMore = rest.length > limit;
  }
  const origin = originOf(req.headers);
  sendJson(res, 200, {
    data: page.map((batch) => messageBatchObject(state.store, batch, origin)),
    has_more: hasMore,
    first_id: page[0]?.id ?? null,
    last_id: page.at(-1)?.id ?? null,
  });
};

/**
 * Cancelling twice, or a batch already writing its results, is not an error. An ended batch is
 * refused (a 400, as the OpenAI side does: the reference does not say what Anthropic answers).
 */
const cancelMessageBatch: Handler = async ({ state, req, res, id }) => {
  const batch = state.store.getBatch(id, 'anthropic');
  if (batch.status === 'validating' || batch.status === 'in_progress') {
    state.processor.cancel(batch);
  } else if (ENDED_STATUSES.has(batch.status)) {
    throw badRequest(`Cannot cancel a batch that has already ended: ${id}`);
  }
  sendJson(res, 200, messageBatchObject(state.store, batch, originOf(req.headers)));
};

/** Only an ended batch can be deleted; its results go with it. */
const deleteMessageBatch: Handler = async ({ state, res, id }) => {
  const batch = state.store.getBatch(id, 'anthropic');
  if (!ENDED_STATUSES.has(batch.status)) {
    throw badRequest(
      `Batch ${id} cannot be deleted while it is still processing; cancel it first.`,
    );
  }
  batch.deleted = true;
  for (const fileId of [batch.input_file_id, batch.output_file_id, batch.error_file_id]) {
    if (fileId) await state.store.deleteFile(fileId);
  }
  sendJson(res, 200, { id, type: 'message_batch_deleted' });
};

/** JSONL, one `{custom_id, result}` per request, in no particular order (as at Anthropic). */
const messageBatchResults: Handler = async (call) => {
  const { state, res, id } = call;
  const batch = state.store.getBatch(id, 'anthropic');
  if (!ENDED_STATUSES.has(batch.status)) {
    throw new ApiError(404, `Results for batch ${id} are not available yet.`, 'not_found_error');
  }
  res.writeHead(200, { 'content-type': 'application/binary', 'request-id': randomId('req_') });
  call.count();
  for await (const line of resultLines(state.store, batch)) await write(res, line);
  res.end();
};

async function* resultLines(store: Store, batch: BatchRecord): AsyncGenerator<string> {
  if (batch.status === 'failed') {
    const message = batch.errors?.[0]?.message ?? 'The batch could not be processed.';
    for await (const { text } of rawLines(store.getFile(batch.input_file_id).path)) {
      const { custom_id } = JSON.parse(text) as { custom_id: string };
      yield resultLine(custom_id, errored(500, message, null));
    }
    return;
  }
  for (const fileId of [batch.output_file_id, batch.error_file_id]) {
    if (!fileId) continue;
    for await (const { text } of rawLines(store.getFile(fileId).path)) {
      const line = JSON.parse(text) as InternalLine;
      yield resultLine(line.custom_id, resultOf(line));
    }
  }
}

function resultOf({ response, error }: InternalLine) {
  if (response?.status_code === 200) return { type: 'succeeded', message: response.body };
  if (response) {
    const body = response.body as { error?: { message?: string } } | null;
    const message = body?.error?.message ?? `Request failed with status ${response.status_code}`;
    return errored(response.status_code, message, response.request_id);
  }
  return { type: error?.code === 'batch_cancelled' ? 'canceled' : 'expired' };
}

function errored(status: number, message: string, requestId: string | null) {
  return { type: 'errored', error: anthropicErrorBody(status, message, requestId) };
}

const resultLine = (customId: string, result: unknown) =>
  `${JSON.stringify({ custom_id: customId, result })}\n`;

async function write(res: ServerResponse, text: string): Promise<void> {
  if (!res.write(text)) await once(res, 'drain');
}

const BATCH_ID = '([^/]+)';
const batchPath = (tail = '') => new RegExp(`^/v1/messages/batches/${BATCH_ID}${tail}$`);

export const ANTHROPIC_ROUTES: Route[] = [
  {
    method: 'POST',
    path: /^\/v1\/messages\/batches$/,
    name: 'messages.batches.create',
    dialect: ANTHROPIC,
    handler: createMessageBatch,
  },
  {
    method: 'GET',
    path: /^\/v1\/messages\/batches$/,
    name: 'messages.batches.list',
    dialect: ANTHROPIC,
    handler: listMessageBatches,
  },
  {
    method: 'GET',
    path: batchPath(),
    name: 'messages.batches.retrieve',
    dialect: ANTHROPIC,
    handler: retrieveMessageBatch,
  },
  {
    method: 'POST',
    path: batchPath('/cancel'),
    name: 'messages.batches.cancel',
    dialect: ANTHROPIC,
    handler: cancelMessageBatch,
  },
  {
    method: 'GET',
    path: batchPath('/results'),
    name: 'messages.batches.results',
    dialect: ANTHROPIC,
    handler: messageBatchResults,
  },
  {
    method: 'DELETE',
    path: batchPath(),
    name: 'messages.batches.delete',
    dialect: ANTHROPIC,
    handler: deleteMessageBatch,
  },
];
