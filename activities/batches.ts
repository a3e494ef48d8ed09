import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type BatchKey, type Providers, providerFor } from '../src/providers/provider.js';
import type { ProviderName } from '../workflows/provider-names.js';
import type { BatchEndpoint, BatchSnapshot } from '../workflows/types.js';
import type { AttemptRef } from './transfers.js';

export interface CreateBatchInput extends BatchKey {
  provider: ProviderName;
  fileId: string;
  endpoint: BatchEndpoint;
  metadata: Record<string, string>;
}

/** A batch at its provider. */
export interface BatchRef {
  provider: ProviderName;
  batchId: string;
}

export interface DeleteFilesInput extends AttemptRef {
  /** The attempt's upload, when it made one. */
  inputFileId: string | null;
  /** Its batch, whose output and error files go too (null when none was created). */
  batchId: string | null;
}

/** Quick calls on a provider's batches: create, poll, cancel, and deleting what they leave. */
export function batchActivities(providers: Providers) {
  return {
    /**
     * Creates the batch of an attempt exactly once: a batch an earlier try of this activity
     * made for the same run, part, attempt and try is returned instead of a new one.
     */
    async createBatch({ provider: name, fileId, endpoint, metadata, ...key }: CreateBatchInput) {
      const provider = providerFor(providers, name);
      const ids = { run_id: key.runId, part: key.part, attempt: key.attempt };
      const existing = await provider.findBatch(key);
      if (existing) {
        log.info('batch found from an earlier try', { ...ids, batch_id: existing });
        return existing;
      }
      const batchId = await provider.createBatch({ key, fileId, endpoint, metadata });
      log.info('batch created', { ...ids, batch_id: batchId, file_id: fileId });
      return batchId;
    },

    pollBatch({ provider, batchId }: BatchRef): Promise<BatchSnapshot> {
      return providerFor(providers, provider).retrieveBatch(batchId);
    },

    /** Cancels a batch; one that already ended (or is ending) is left as it is. */
    cancelBatch({ provider, batchId }: BatchRef): Promise<BatchSnapshot> {
      return providerFor(providers, provider).cancelBatch(batchId);
    },

    /**
     * Deletes an attempt's files at the provider once its results are in the store: the upload,
     * and the output and error files as the batch lists them now (read afresh, like download
     * does). Runs again after a crash: a file already gone is not an error. A deletion the
     * provider refuses for good is left to the files' expiry, never failing a part whose
     * results are safe. Returns the ids no longer at the provider.
     */
    async deleteProviderFiles({
      inputFileId,
      batchId,
      ...ref
    }: DeleteFilesInput): Promise<string[]> {
      const provider = providerFor(providers, ref.provider);
      const ids = { run_id: ref.runId, part: ref.part, attempt: ref.attempt };
      const leftToExpire = (err: unknown) => {
        if (!(err instanceof ApplicationFailure) || !err.nonRetryable) throw err;
        log.warn(`${err.message}; left to expire at the provider`, ids);
        return null;
      };
      const batch = batchId ? await provider.retrieveBatch(batchId).catch(leftToExpire) : null;
      const deleted: string[] = [];
      for (const fileId of [inputFileId, batch?.outputFileId, batch?.errorFileId]) {
        if (!fileId) continue;
        if (await provider.deleteFile(fileId).then(() => true, leftToExpire)) deleted.push(fileId);
      }
      log.info('provider files deleted', { ...ids, file_ids: deleted });
      return deleted;
    },
  };
}
