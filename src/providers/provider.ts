import { failures } from '../../workflows/contract.js';
import type { ProviderName } from '../../workflows/provider-names.js';
import type { BatchEndpoint, BatchSnapshot } from '../../workflows/types.js';
import type { SyncAnswer } from './sync.js';

/** What names one batch of a run: the idempotency key of its creation. */
export interface BatchKey {
  runId: string;
  /** The part's index (1-based). */
  part: number;
  /** Nightshift's resubmission of what an earlier attempt left unfinished. */
  attempt: number;
  /** The creation within an attempt: only a token-limit failure makes another. */
  try: number;
}

/**
 * What a batch is made of: the file `uploadFile` made, or, for a provider whose batches take
 * their requests inline (Anthropic has no batch input files), the part's JSONL itself.
 */
export type BatchInput = { fileId: string } | { requests: Blob };

export interface CreateBatchRequest {
  key: BatchKey;
  input: BatchInput;
  /** The run's endpoint, in OpenAI's names (the lines are already in the provider's shape). */
  endpoint: BatchEndpoint;
  /** The model of every line (null for endpoints whose bodies name none). */
  model: string | null;
  /** The user's metadata, carried by the batch where the provider keeps any. */
  metadata: Record<string, string>;
}

/**
 * A create whose answer was lost, for providers whose batches carry no tag to find them by
 * (Anthropic): the batch it made, if any, was created at or after `since` (ms since the epoch,
 * the worker's clock) with `requests` requests, and its results carry only custom ids the part
 * `owns` (what tells two such batches apart once they have ended).
 */
export interface LostCreate {
  since: number;
  requests: number;
  owns(customId: string): boolean;
}

/**
 * A create whose answer was lost, for providers whose batches carry no tag but name the file
 * they were made from (Together): the batch it made, if any, names `fileId` and was created at
 * or after `since` (as in {@link LostCreate}).
 */
export interface LostUpload {
  since: number;
  fileId: string;
}

/**
 * One provider's batch API, in Nightshift's vocabulary. Calls throw the failures of
 * `workflows/contract.ts` (ProviderUnavailable heals, ProviderRejected does not), so the
 * activities above stay the same for every provider. Lines come in OpenAI's batch output shape
 * (`{custom_id, response: {status_code, request_id, body}, error}`), Nightshift's own.
 */
export interface BatchProvider {
  readonly name: ProviderName;
  /**
   * How a part's requests reach the provider: uploaded as a file that the create names, or
   * carried inline by the create call (then `findFile`, `uploadFile` and the input file's
   * deletion are never called).
   */
  readonly inputs: 'file' | 'inline';
  /**
   * How `findBatch` finds what a create whose answer was lost made: by the tag the batch
   * carries (OpenAI's metadata, Gemini's display name), or, for batches that carry none, by
   * its creation time and size (Anthropic's, only for `inline` inputs) or by its creation time
   * and the upload it names (Together's, only for `file` inputs).
   */
  readonly findsBatchesBy: 'tag' | 'shape' | 'upload';
  /** A file an earlier try uploaded under this name and size, if the provider still has it. */
  findFile(filename: string, bytes: number): Promise<string | null>;
  /** Uploads a part's JSONL, streamed from the store's Blob; returns the file id. */
  uploadFile(blob: Blob, filename: string): Promise<string>;
  /**
   * The batch an earlier try created for this key, if any: found by the tag the provider keeps
   * (metadata, display name), or, where it keeps none, from the `lost` create: a
   * {@link LostCreate} for `shape`, a {@link LostUpload} for `upload` (null when no earlier try
   * reached the create).
   */
  findBatch(key: BatchKey, lost: LostCreate | LostUpload | null): Promise<string | null>;
  /** Creates a batch, once: never retried inside, since a second create is a second bill. */
  createBatch(request: CreateBatchRequest): Promise<string>;
  retrieveBatch(batchId: string): Promise<BatchSnapshot>;
  /** Cancels a running batch; one that has ended (or ends meanwhile) is returned as it is. */
  cancelBatch(batchId: string): Promise<BatchSnapshot>;
  /**
   * The JSONL bytes of an output or error file, in OpenAI's batch output shape whatever the
   * provider (`response.body` stays the provider's own body). Requests a batch left unfinished
   * come as `error.code` `batch_expired` or `batch_cancelled` lines, or not at all.
   */
  resultLines(fileId: string): Promise<AsyncIterable<Uint8Array>>;
  /** Deletes a file; one already gone is not an error. */
  deleteFile(fileId: string): Promise<void>;
  /**
   * Sends one of a part's lines (in the provider's shape) through the synchronous API, for the
   * deadline fallback; `model` is the run's (Gemini's lines name none).
   */
  sendRequest(line: string, model: string | null): Promise<SyncAnswer>;
}

/** The providers a worker has credentials for. */
export type Providers = Partial<Record<ProviderName, BatchProvider>>;

/** The provider a run asked for; a worker without its credentials fails the step for good. */
export function providerFor(providers: Providers, name: ProviderName): BatchProvider {
  const provider = providers[name];
  if (!provider) {
    throw failures.ProviderNotConfigured(
      `this worker has no credentials for the provider '${name}' (see the README's configuration)`,
    );
  }
  return provider;
}
