import { ApiError, type ContentListUnion, type GenerateContentConfig } from '@google/genai';
import { type BatchStatus, CANCELLABLE_BATCH_STATUSES } from '../../../workflows/contract.js';
import type { BatchSnapshot } from '../../../workflows/types.js';
import { cancelUnlessEnded } from '../failures.js';
import type { BatchKey, BatchProvider, CreateBatchRequest } from '../provider.js';
import type { SyncAnswer } from '../sync.js';
import type { GeminiClient } from './client.js';
import { callGemini, retryDelayMs } from './errors.js';

/** How far back to look for a batch or file an earlier try of the same activity made. */
const LOOKBACK_ITEMS = 1_000;

/** The display name that carries a batch's {@link BatchKey}, so an earlier try finds it. */
export function displayNameOf(key: BatchKey): string {
  return `nightshift-${key.runId}-p${key.part}-a${key.attempt}-t${key.try}`;
}

/** Gemini's batch states (REST names) in Nightshift's words. */
const STATUSES: Record<string, BatchStatus> = {
  BATCH_STATE_PENDING: 'validating',
  BATCH_STATE_RUNNING: 'in_progress',
  BATCH_STATE_SUCCEEDED: 'completed',
  BATCH_STATE_FAILED: 'failed',
  BATCH_STATE_CANCELLED: 'cancelled',
  BATCH_STATE_EXPIRED: 'expired',
};

/** The batch as the REST API sends it: a long-running operation over a GenerateContentBatch. */
interface BatchOperation {
  name: string;
  metadata?: {
    state?: string;
    batchStats?: Record<string, string | number | undefined>;
    output?: { responsesFile?: string };
  };
  error?: { code?: number; message?: string };
}

function snapshotOf(op: BatchOperation): BatchSnapshot {
  const status = STATUSES[op.metadata?.state ?? ''] ?? 'validating';
  const stats = op.metadata?.batchStats ?? {};
  const count = (field: string) => Number(stats[field] ?? 0);
  const outputFileId = op.metadata?.output?.responsesFile ?? null;
  // An expired batch has no results to retrieve (Gemini's batch guide): what it did is lost,
  // and counting it would have the download wait for a file that never comes.
  const lost = status === 'expired' && outputFileId === null;
  return {
    id: op.name,
    status,
    requestCounts: {
      total: count('requestCount'),
      completed: lost ? 0 : count('successfulRequestCount'),
      failed: lost ? 0 : count('failedRequestCount'),
    },
    outputFileId,
    // Successes and failures share the responses file.
    errorFileId: null,
    errors: op.error
      ? [{ code: String(op.error.code ?? ''), message: op.error.message ?? '', line: null }]
      : [],
  };
}

/** google.rpc codes by name, for result lines that carry one instead of an HTTP status. */
const HTTP_STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ABORTED: 409,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

function httpStatusOf(error: { code?: unknown; status?: unknown }): number {
  if (typeof error.code === 'number' && error.code >= 100) return error.code;
  return HTTP_STATUS[String(error.status)] ?? 500;
}

/**
 * One line of a responses file in OpenAI's batch output shape: `{key, response}` is a 200 whose
 * body is the GenerateContentResponse; `{key, error}` a response with the error's HTTP status,
 * so classify retries 429s and 5xx and not 4xx.
 */
export function toOpenAILine(text: string): string {
  const line = JSON.parse(text) as {
    key: string;
    response?: { responseId?: string };
    error?: { code?: unknown; status?: unknown; message?: unknown };
  };
  const response = line.error
    ? { status_code: httpStatusOf(line.error), request_id: '', body: { error: line.error } }
    : { status_code: 200, request_id: line.response?.responseId ?? '', body: line.response };
  return JSON.stringify({ custom_id: line.key, response, error: null });
}

/**
 * Converts a JSONL stream line by line. A last line without its newline (a download cut short)
 * is passed on unconverted, so the store sees the truncation.
 */
async function* convertLines(
  source: AsyncIterable<Uint8Array>,
  convert: (text: string) => string,
): AsyncGenerator<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = '';
  for await (const chunk of source) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    const out = lines.filter((l) => l.trim() !== '').map((l) => `${convert(l)}\n`);
    if (out.length > 0) yield encoder.encode(out.join(''));
  }
  pending += decoder.decode();
  if (pending !== '') yield encoder.encode(pending);
}

/** Gemini Batch Mode (Gemini Developer API) through `@google/genai`. */
export class GeminiBatchProvider implements BatchProvider {
  readonly name = 'gemini';
  readonly inputs = 'file';
  readonly findsBatchesBy = 'tag';

  constructor(private readonly ai: GeminiClient) {}

  findFile(filename: string, bytes: number): Promise<string | null> {
    return callGemini('find an earlier upload', async () => {
      let seen = 0;
      for await (const file of await this.ai.files.list({ config: { pageSize: 100 } })) {
        if (file.displayName === filename && Number(file.sizeBytes) === bytes) {
          return file.name ?? null;
        }
        if (++seen >= LOOKBACK_ITEMS) break;
      }
      return null;
    });
  }

  async uploadFile(blob: Blob, filename: string): Promise<string> {
    const file = await callGemini(`upload ${filename}`, () =>
      this.ai.files.upload({
        file: blob,
        config: { mimeType: 'application/jsonl', displayName: filename },
      }),
    );
    if (!file.name) throw new Error(`upload ${filename}: the answer names no file`);
    return file.name;
  }

  findBatch(key: BatchKey): Promise<string | null> {
    const displayName = displayNameOf(key);
    return callGemini('find an earlier batch', async () => {
      let seen = 0;
      for await (const job of await this.ai.batches.list({ config: { pageSize: 100 } })) {
        if (job.displayName === displayName) return job.name ?? null;
        if (++seen >= LOOKBACK_ITEMS) break;
      }
      return null;
    });
  }

  async createBatch({ key, input, model }: CreateBatchRequest): Promise<string> {
    if (!('fileId' in input)) throw new Error('Gemini batches are made from an uploaded file');
    if (!model) throw new Error('a Gemini batch needs the model of its requests');
    const { fileId } = input;
    const job = await callGemini('create batch', () =>
      this.ai.batches.create({
        model,
        src: fileId,
        // One attempt: a retried create is a second, billed batch.
        config: { displayName: displayNameOf(key), httpOptions: { retryOptions: { attempts: 1 } } },
      }),
    );
    if (!job.name) throw new Error('create batch: the answer names no batch');
    return job.name;
  }

  async retrieveBatch(batchId: string): Promise<BatchSnapshot> {
    return snapshotOf(await callGemini(`retrieve ${batchId}`, () => this.retrieve(batchId)));
  }

  async cancelBatch(batchId: string): Promise<BatchSnapshot> {
    const batch = await callGemini(`cancel ${batchId}`, () =>
      cancelUnlessEnded({
        retrieve: () => this.retrieve(batchId),
        // Gemini answers a cancel with nothing: the batch as it is now is read after it.
        cancel: async () => {
          await this.ai.batches.cancel({ name: batchId });
          return this.retrieve(batchId);
        },
        running: (b) => CANCELLABLE_BATCH_STATUSES.includes(snapshotOf(b).status),
      }),
    );
    return snapshotOf(batch);
  }

  async resultLines(fileId: string): Promise<AsyncIterable<Uint8Array>> {
    const body = await callGemini(`download ${fileId}`, () => this.ai.download(fileId));
    return convertLines(body, toOpenAILine);
  }

  deleteFile(fileId: string): Promise<void> {
    return callGemini(`delete ${fileId}`, async () => {
      await this.ai.files.delete({ name: fileId }).catch((err: unknown) => {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      });
    });
  }

  private async retrieve(batchId: string): Promise<BatchOperation> {
    return (await this.ai.getJson(batchId)) as BatchOperation;
  }

  /**
   * The line's GenerateContentRequest to `models.generateContent`, once: its generation
   * settings become the SDK's config, and the answer is the REST response the batch would hold.
   */
  async sendRequest(line: string, model: string | null): Promise<SyncAnswer> {
    if (!model) throw new Error('a Gemini request needs the model of its run');
    const { request } = JSON.parse(line) as { request: GeminiRequest };
    const { contents, generationConfig, ...rest } = request;
    try {
      const response = await this.ai.models.generateContent({
        model,
        contents,
        config: { ...generationConfig, ...rest },
      });
      const { sdkHttpResponse: _http, ...body } = JSON.parse(JSON.stringify(response));
      return { statusCode: 200, requestId: body.responseId ?? '', body, pauseMs: null };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return {
        statusCode: err.status,
        requestId: '',
        body: parsedOr(err.message),
        pauseMs: err.status === 429 ? (retryDelayMs(err.message) ?? 1_000) : null,
      };
    }
  }
}

/** A Batch Mode line's request: the REST GenerateContentRequest. */
interface GeminiRequest {
  contents: ContentListUnion;
  generationConfig?: GenerateContentConfig;
  [field: string]: unknown;
}

/** An error body the SDK kept as its message: JSON when Google sent JSON. */
function parsedOr(message: string): unknown {
  try {
    return JSON.parse(message);
  } catch {
    return { error: { message } };
  }
}
