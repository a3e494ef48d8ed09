import { log } from '@temporalio/activity';
import { type BatchKey, type Providers, providerFor } from '../src/providers/provider.js';
import type { ProviderName } from '../workflows/provider-names.js';
import type { BatchEndpoint, BatchSnapshot } from '../workflows/types.js';

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

/** Quick calls on a provider's batches: create, poll, cancel. */
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
  };
}
