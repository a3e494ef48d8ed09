import { failures } from '../../workflows/contract.js';
import type { ProviderName } from '../../workflows/provider-names.js';
import type { BatchEndpoint, BatchSnapshot } from '../../workflows/types.js';

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

export interface CreateBatchRequest {
  key: BatchKey;
  fileId: string;
  endpoint: BatchEndpoint;
  /** The user's metadata, carried by the batch where the provider keeps any. */
  metadata: Record<string, string>;
}

/**
 * One provider's batch API, in Nightshift's vocabulary. Calls throw the failures of
 * `workflows/contract.ts` (ProviderUnavailable heals, ProviderRejected does not), so the
 * activities above stay the same for every provider. Lines come in OpenAI's batch output shape
 * (`{custom_id, response: {status_code, request_id, body}, error}`), Nightshift's own.
 */
export interface BatchProvider {
  readonly name: ProviderName;
  /** A file an earlier try uploaded under this name and size, if the provider still has it. */
  findFile(filename: string, bytes: number): Promise<string | null>;
  /** Uploads a part's JSONL, streamed from the store's Blob; returns the file id. */
  uploadFile(blob: Blob, filename: string): Promise<string>;
  /** The batch an earlier try created for this key, if any. */
  findBatch(key: BatchKey): Promise<string | null>;
  /** Creates a batch, once: never retried inside, since a second create is a second bill. */
  createBatch(request: CreateBatchRequest): Promise<string>;
  retrieveBatch(batchId: string): Promise<BatchSnapshot>;
  /** Cancels a running batch; one that has ended (or ends meanwhile) is returned as it is. */
  cancelBatch(batchId: string): Promise<BatchSnapshot>;
  /** The JSONL bytes of an output or error file. */
  resultLines(fileId: string): Promise<AsyncIterable<Uint8Array>>;
  /** Deletes a file; one already gone is not an error. */
  deleteFile(fileId: string): Promise<void>;
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
