import type Anthropic from '@anthropic-ai/sdk';
import { APIError, NotFoundError } from '@anthropic-ai/sdk';
import type {
  BatchCreateParams,
  MessageBatch,
  MessageBatchIndividualResponse,
} from '@anthropic-ai/sdk/resources/messages/batches';
import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages/messages';
import { failures } from '../../../workflows/contract.js';
import type { BatchSnapshot } from '../../../workflows/types.js';
import { cancelUnlessEnded } from '../failures.js';
import type { BatchKey, BatchProvider, CreateBatchRequest, LostCreate } from '../provider.js';
import { type SyncAnswer, syncAnswer } from '../sync.js';
import { DEFAULT_TIMEOUT_MS } from './client.js';
import { callAnthropic } from './errors.js';

/**
 * How long after the lost create's `since` its batch can have been created: `since` is already
 * set back by the clock skew allowed, and a create carrying 256 MB may take until the client's
 * timeout (`DEFAULT_TIMEOUT_MS`) to arrive whole.
 */
const CREATE_WINDOW_MS = DEFAULT_TIMEOUT_MS + 60_000;

/** The HTTP status behind each of Anthropic's error types (https://docs.anthropic.com/en/api/errors). */
const STATUS_OF_ERROR_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

const INLINE_ONLY = 'Anthropic batches take their requests inline, never from a file';

const totalOf = ({ request_counts: c }: MessageBatch) =>
  c.processing + c.succeeded + c.errored + c.canceled + c.expired;

/**
 * Anthropic's statuses in Nightshift's: an ended batch is cancelled if a cancel was initiated,
 * expired if some requests expired, completed otherwise. Its results are its "output file",
 * named by the batch id once `results_url` is published (null before, as for a late file).
 */
function snapshotOf(batch: MessageBatch): BatchSnapshot {
  const counts = batch.request_counts;
  let status: BatchSnapshot['status'] = 'in_progress';
  if (batch.processing_status === 'canceling') status = 'cancelling';
  else if (batch.processing_status === 'ended') {
    if (batch.cancel_initiated_at) status = 'cancelled';
    else status = counts.expired > 0 ? 'expired' : 'completed';
  }
  return {
    id: batch.id,
    status,
    requestCounts: { total: totalOf(batch), completed: counts.succeeded, failed: counts.errored },
    outputFileId: batch.results_url ? batch.id : null,
    errorFileId: null,
    errors: [],
  };
}

/**
 * One Anthropic result in OpenAI's batch output shape, which classify reads: a success or an
 * error as the response the request got (the status derived from the error type, so 5xx and 529
 * are retried and 4xx are final), and the requests the batch never ran as `batch_expired` or
 * `batch_cancelled` errors. Anthropic's results carry no request id.
 */
export function toOpenAILine({ custom_id, result }: MessageBatchIndividualResponse) {
  switch (result.type) {
    case 'succeeded':
      return {
        id: result.message.id,
        custom_id,
        response: { status_code: 200, request_id: '', body: result.message },
        error: null,
      };
    case 'errored':
      return {
        custom_id,
        response: {
          // An error type newer than this table is taken for server trouble: worth a retry.
          status_code: STATUS_OF_ERROR_TYPE[result.error.error.type] ?? 500,
          request_id: result.error.request_id ?? '',
          body: result.error,
        },
        error: null,
      };
    case 'expired':
      return {
        custom_id,
        response: null,
        error: { code: 'batch_expired', message: 'the batch expired before this request ran' },
      };
    case 'canceled':
      return {
        custom_id,
        response: null,
        error: {
          code: 'batch_cancelled',
          message: 'the batch was cancelled before this request ran',
        },
      };
  }
}

async function* encodeLines(
  results: AsyncIterable<MessageBatchIndividualResponse>,
): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  for await (const result of results) {
    yield encoder.encode(`${JSON.stringify(toOpenAILine(result))}\n`);
  }
}

/** Anthropic's Message Batches API through the official SDK. */
export class AnthropicBatchProvider implements BatchProvider {
  readonly name = 'anthropic';
  readonly inputs = 'inline';
  readonly findsBatchesBy = 'shape';

  constructor(private readonly anthropic: Anthropic) {}

  findFile(): Promise<string | null> {
    throw new Error(INLINE_ONLY);
  }

  uploadFile(): Promise<string> {
    throw new Error(INLINE_ONLY);
  }

  /**
   * The batch a create whose answer was lost made, if it made one. Anthropic's batches carry no
   * metadata to tag them with, so the batch is found by its shape: created within
   * {@link CREATE_WINDOW_MS} from `lost.since`, with exactly `lost.requests` requests (the list
   * is newest first, so the walk stops at the first batch older than `since`).
   * - No candidate: the create never reached Anthropic; null, and the caller creates.
   * - One: it (another batch of that size in that minute would be a coincidence of this key).
   * - Several (parts of equal size created together): the ended ones are told apart by their
   *   first result's custom_id, which only the part's own batch carries (`lost.owns`). Exactly
   *   one owned: it. None owned and none left undecided: null, the create never arrived. While
   *   any is still running (or its results are not published), CreateUnresolved: Temporal
   *   retries once they have ended, rather than pay for a second batch now.
   * With `lost` null no create was ever sent for this key: nothing to find.
   */
  async findBatch(_key: BatchKey, lost: LostCreate | null): Promise<string | null> {
    if (!lost) return null;
    const candidates = await callAnthropic('find an earlier batch', () => this.lookAlikes(lost));
    if (candidates.length <= 1) return candidates[0]?.id ?? null;
    const owned: string[] = [];
    const undecided: string[] = [];
    for (const batch of candidates) {
      if (!batch.results_url) undecided.push(batch.id);
      else if (await this.owns(batch.id, lost)) owned.push(batch.id);
    }
    if (owned.length === 1) return owned[0] as string;
    if (owned.length === 0 && undecided.length === 0) return null;
    throw failures.CreateUnresolved(
      `${candidates.length} batches look like the lost create (${lost.requests} requests, ` +
        `created within ${CREATE_WINDOW_MS / 1000} s of ${new Date(lost.since).toISOString()}): ` +
        `${owned.length} carry its requests, ${undecided.join(', ') || 'none'} still running`,
    );
  }

  async createBatch({ input }: CreateBatchRequest): Promise<string> {
    if (!('requests' in input)) throw new Error(INLINE_ONLY);
    const requests = (await input.requests.text())
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as BatchCreateParams.Request);
    const batch = await callAnthropic('create batch', () =>
      // Never retried: a retried create is a second bill (a lost answer is found by findBatch).
      this.anthropic.messages.batches.create({ requests }, { maxRetries: 0 }),
    );
    return batch.id;
  }

  async retrieveBatch(batchId: string): Promise<BatchSnapshot> {
    return snapshotOf(await callAnthropic(`retrieve ${batchId}`, () => this.retrieve(batchId)));
  }

  async cancelBatch(batchId: string): Promise<BatchSnapshot> {
    const batch = await callAnthropic(`cancel ${batchId}`, () =>
      cancelUnlessEnded({
        retrieve: () => this.retrieve(batchId),
        cancel: () => this.anthropic.messages.batches.cancel(batchId),
        running: (b) => b.processing_status === 'in_progress',
      }),
    );
    return snapshotOf(batch);
  }

  /** The batch's results (its "output file" is the batch itself), line by line as OpenAI's. */
  async resultLines(batchId: string): Promise<AsyncIterable<Uint8Array>> {
    const results = await callAnthropic(`download ${batchId}`, () =>
      this.anthropic.messages.batches.results(batchId),
    );
    return encodeLines(results);
  }

  /** Deletes the batch, and its results with it; one already gone is not an error. */
  deleteFile(batchId: string): Promise<void> {
    return callAnthropic(`delete ${batchId}`, async () => {
      await this.anthropic.messages.batches.delete(batchId).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) throw err;
      });
    });
  }

  private retrieve(batchId: string): Promise<MessageBatch> {
    return this.anthropic.messages.batches.retrieve(batchId);
  }

  private async lookAlikes(lost: LostCreate): Promise<MessageBatch[]> {
    const found: MessageBatch[] = [];
    for await (const batch of this.anthropic.messages.batches.list({ limit: 100 })) {
      const created = Date.parse(batch.created_at);
      if (created < lost.since) break;
      if (created <= lost.since + CREATE_WINDOW_MS && totalOf(batch) === lost.requests) {
        found.push(batch);
      }
    }
    return found;
  }

  /** Whether an ended batch's first result is one of the lost create's requests. */
  private owns(batchId: string, lost: LostCreate): Promise<boolean> {
    return callAnthropic(`read the results of ${batchId}`, async () => {
      const results = await this.anthropic.messages.batches.results(batchId);
      try {
        for await (const first of results) return lost.owns(first.custom_id);
        return false;
      } finally {
        // The rest of the results are not needed: the connection is let go at once.
        results.controller.abort();
      }
    });
  }

  /** The line's `params` to the Messages API, once. */
  sendRequest(line: string): Promise<SyncAnswer> {
    const { params } = JSON.parse(line) as { params: MessageCreateParamsNonStreaming };
    return syncAnswer(
      () => this.anthropic.messages.create(params, { maxRetries: 0 }).withResponse(),
      (err) => err instanceof APIError,
    );
  }
}
