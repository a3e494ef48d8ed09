import { link } from 'node:fs/promises';
import type { Call, Handler } from './context.js';
import { badRequest, invalidValue, missingParameter } from './errors.js';
import { detailedUsage, type OpenAIEndpoint, SUPPORTED_ENDPOINTS } from './fake-responses.js';
import { expirySeconds, intParam, readJson, sendJson } from './http.js';
import { randomId } from './random.js';
import { type BatchRecord, ENDED_STATUSES, NO_PROGRESS, nowSeconds } from './store.js';

/** Accepted by OpenAI but without fake bodies here, so refused rather than faked badly. */
const UNEMULATED_ENDPOINTS = ['/v1/images/generations', '/v1/images/edits', '/v1/videos'];

export function batchObject(batch: BatchRecord, { hideFiles = false } = {}) {
  const { request_counts, usage } = batch.progress();
  return {
    id: batch.id,
    object: 'batch',
    endpoint: batch.endpoint,
    model: batch.model,
    errors: batch.errors ? { object: 'list', data: batch.errors } : null,
    input_file_id: batch.input_file_id,
    completion_window: '24h',
    status: batch.status,
    output_file_id: hideFiles ? null : batch.output_file_id,
    error_file_id: hideFiles ? null : batch.error_file_id,
    created_at: batch.created_at,
    in_progress_at: batch.in_progress_at,
    expires_at: batch.expires_at,
    finalizing_at: batch.finalizing_at,
    completed_at: batch.completed_at,
    failed_at: batch.failed_at,
    expired_at: batch.expired_at,
    cancelling_at: batch.cancelling_at,
    cancelled_at: batch.cancelled_at,
    request_counts,
    usage: detailedUsage(usage),
    metadata: batch.metadata,
  };
}

export const createBatch: Handler = async (call) => {
  const { state, req, res } = call;
  const body = await readJson(req);
  const inputFileId = requiredString(body, 'input_file_id');
  const endpoint = requiredString(body, 'endpoint');
  const window = requiredString(body, 'completion_window');
  if (UNEMULATED_ENDPOINTS.includes(endpoint)) {
    throw invalidValue('endpoint', `'${endpoint}' is not supported by the emulator.`);
  }
  if (!SUPPORTED_ENDPOINTS.includes(endpoint as OpenAIEndpoint)) {
    throw invalidValue(
      'endpoint',
      `'${endpoint}'. Supported values are: ${SUPPORTED_ENDPOINTS.join(', ')}.`,
    );
  }
  if (window !== '24h')
    throw invalidValue('completion_window', `'${window}'. Supported values are: '24h'.`);
  const metadata = parseMetadata(body.metadata);
  const expiry = body.output_expires_after as { anchor?: unknown; seconds?: unknown } | undefined;
  const outputLifetime = expiry
    ? expirySeconds('output_expires_after', expiry.anchor, expiry.seconds)
    : null;
  const file = state.store.getFile(inputFileId);
  if (file.purpose !== call.batchPurpose) {
    throw invalidValue(
      'input_file_id',
      `file ${inputFileId} must be uploaded with purpose '${call.batchPurpose}'.`,
    );
  }
  // A hard link of its own keeps the input readable if the file is deleted while the batch runs.
  const inputPath = state.store.newFilePath();
  await link(file.path, inputPath);
  const batch = startBatch(call, {
    id: randomId('batch_'),
    endpoint: endpoint as OpenAIEndpoint,
    input_file_id: inputFileId,
    input_path: inputPath,
    metadata,
    output_expires_after_seconds: outputLifetime,
    faults: state.faults.takeBatchFaults(
      'batches.create',
      metadata?.nightshift_attempt ?? metadata?.attempt,
    ),
  });
  sendJson(res, 200, batchObject(batch));
};

/** Records a new batch, `validating` from now on, and sets it running; for either API. */
export function startBatch(
  { state, completionWindowMs }: Call,
  fields: Pick<
    BatchRecord,
    | 'id'
    | 'api'
    | 'endpoint'
    | 'input_file_id'
    | 'input_path'
    | 'metadata'
    | 'output_expires_after_seconds'
    | 'faults'
  >,
): BatchRecord {
  const now = Date.now();
  const created = nowSeconds();
  const batch: BatchRecord = {
    ...fields,
    seq: state.store.nextSeq(),
    status: 'validating',
    model: null,
    errors: null,
    output_file_id: null,
    error_file_id: null,
    created_ms: now,
    created_at: created,
    // Honest about when the emulator will expire it, so pollers can plan with it.
    expires_at: created + Math.ceil(completionWindowMs / 1000),
    in_progress_at: null,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    progress: () => NO_PROGRESS,
  };
  state.store.addBatch(batch);
  state.processor.start(batch);
  return batch;
}

export const retrieveBatch: Handler = async ({ state, res, id }) => {
  const batch = state.store.getBatch(id, 'openai');
  sendJson(res, 200, batchObject(batch, { hideFiles: takeHiddenFilesRead(batch) }));
};

/** The `late_file_ids` fault: an ended batch's first reads show its status but not its files. */
export function takeHiddenFilesRead(batch: BatchRecord): boolean {
  const left = batch.faults.hiddenFileIdReads ?? 0;
  if (!ENDED_STATUSES.has(batch.status) || left === 0) return false;
  batch.faults.hiddenFileIdReads = left - 1;
  return true;
}

export const listBatches: Handler = async ({ state, res, query }) => {
  const limit = intParam(query, 'limit', 20, 1, 100);
  const page = state.store.listBatches('openai', query.get('after') ?? undefined, limit);
  sendJson(res, 200, {
    object: 'list',
    data: page.data.map((batch) => batchObject(batch)),
    first_id: page.data[0]?.id ?? null,
    last_id: page.data.at(-1)?.id ?? null,
    has_more: page.has_more,
  });
};

/** Cancelling twice, or a batch already finalizing, is not an error; an ended batch is. */
export const cancelBatch: Handler = async ({ state, res, id }) => {
  const batch = state.store.getBatch(id, 'openai');
  if (batch.status === 'validating' || batch.status === 'in_progress') {
    state.processor.cancel(batch);
  } else if (batch.status !== 'cancelling' && batch.status !== 'finalizing') {
    // 400, not 409: the SDK retries 409s as lock timeouts, which this is not.
    throw badRequest(`Cannot cancel a batch with status '${batch.status}'.`);
  }
  sendJson(res, 200, batchObject(batch));
};

function requiredString(body: Record<string, unknown>, param: string): string {
  const value = body[param];
  if (value === undefined || value === null) throw missingParameter(param);
  if (typeof value !== 'string') throw invalidValue(param, 'expected a string.');
  return value;
}

function parseMetadata(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalidValue('metadata', 'expected an object of string values.');
  }
  const entries = Object.entries(value);
  if (entries.length > 16) {
    throw badRequest("Invalid 'metadata': too many properties, expected at most 16.", 'metadata');
  }
  for (const [key, item] of entries) {
    if (key.length > 64) {
      throw badRequest(
        `Invalid 'metadata': key '${key}' is longer than 64 characters.`,
        'metadata',
      );
    }
    if (typeof item !== 'string' || item.length > 512) {
      throw badRequest(
        `Invalid 'metadata.${key}': expected a string of at most 512 characters.`,
        `metadata.${key}`,
      );
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}
