import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import {
  type BatchInput,
  type BatchKey,
  type BatchProvider,
  type LostCreate,
  type LostUpload,
  type Providers,
  providerFor,
} from '../src/providers/provider.js';
import { customIdOf } from '../src/requests.js';
import type { ProviderName } from '../workflows/provider-names.js';
import type { ArtifactName, BatchEndpoint, BatchSnapshot } from '../workflows/types.js';
import { whileHeartbeating } from './heartbeat.js';
import type { AttemptRef } from './transfers.js';

export interface CreateBatchInput extends BatchKey {
  provider: ProviderName;
  /** What upload returned: the provider's file id, or the part's JSONL for inline providers. */
  fileId: string;
  endpoint: BatchEndpoint;
  /** The run's model (absent in histories recorded before providers needed it). */
  model?: string | null;
  metadata: Record<string, string>;
}

/** The creation record (`artifactNames.creation`): when the create was sent, and what it made. */
interface Creation {
  sentAt: number;
  batchId?: string;
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

/** How far the worker's clock may be ahead of the one that stamped an earlier try's record. */
const CLOCK_SKEW_MS = 5_000;

/**
 * The part's JSONL in the store, which upload hands over as the "file" of an inline provider;
 * a provider that finds batches by their shape needs it too, so it must be one.
 */
function requestsOf(provider: BatchProvider, fileId: string): ArtifactName {
  if (provider.inputs !== 'inline') {
    throw new Error(`${provider.name}: finding batches by shape needs the requests inline`);
  }
  return fileId as ArtifactName;
}

/** Quick calls on a provider's batches: create, poll, cancel, and deleting what they leave. */
export function batchActivities(providers: Providers, store: ArtifactStore) {
  /** What a create whose answer was lost made, as far as its requests tell. */
  async function lostCreate(runId: string, sentAt: number, requests: ArtifactName) {
    const customIds = new Set<string>();
    for await (const line of store.readLines(runId, requests)) {
      if (line.text !== null) customIds.add(customIdOf(line.text));
    }
    const lost: LostCreate = {
      since: sentAt - CLOCK_SKEW_MS,
      requests: customIds.size,
      owns: (customId) => customIds.has(customId),
    };
    return lost;
  }

  /** What a provider without tags needs to find the batch a create sent at `sentAt` made. */
  async function lostOf(
    provider: BatchProvider,
    runId: string,
    sentAt: number,
    fileId: string,
  ): Promise<LostCreate | LostUpload | null> {
    switch (provider.findsBatchesBy) {
      case 'tag':
        return null;
      case 'shape':
        return lostCreate(runId, sentAt, requestsOf(provider, fileId));
      case 'upload':
        return { since: sentAt - CLOCK_SKEW_MS, fileId } satisfies LostUpload;
    }
  }

  return {
    /**
     * Creates the batch of an attempt exactly once. The creation is recorded before the create
     * is sent and again with its answer, so a later try of this activity returns the batch an
     * earlier one made: from the record, from the provider's tag on it, or, for a provider that
     * tags nothing, by the lost create's time and size (see {@link LostCreate}) or time and
     * upload (see {@link LostUpload}).
     */
    async createBatch(input: CreateBatchInput) {
      const { provider: name, fileId, endpoint, model = null, metadata, ...key } = input;
      const provider = providerFor(providers, name);
      const ids = { run_id: key.runId, part: key.part, attempt: key.attempt };
      const record = artifactNames.creation(key.part, key.attempt, key.try);
      const earlier = await store.readJson<Creation>(key.runId, record);
      if (earlier?.batchId) return earlier.batchId;
      const requests = provider.inputs === 'inline' ? requestsOf(provider, fileId) : null;
      const existing = await provider.findBatch(
        key,
        earlier ? await lostOf(provider, key.runId, earlier.sentAt, fileId) : null,
      );
      if (existing) {
        log.info('batch found from an earlier try', { ...ids, batch_id: existing });
        await store.writeJson(key.runId, record, { ...earlier, batchId: existing });
        return existing;
      }
      // The earliest send stays the record's: a create still on its way would land after it.
      const sentAt = earlier?.sentAt ?? Date.now();
      await store.writeJson(key.runId, record, { sentAt } satisfies Creation);
      const create = (batchInput: BatchInput) =>
        provider.createBatch({ key, input: batchInput, endpoint, model, metadata });
      const batchId = requests
        ? await whileHeartbeating(() =>
            store.withBlob(key.runId, requests, (blob) => create({ requests: blob })),
          )
        : await create({ fileId });
      await store.writeJson(key.runId, record, { sentAt, batchId } satisfies Creation);
      log.info('batch created', { ...ids, batch_id: batchId, file_id: requests ? null : fileId });
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
      // An inline provider's "input file" is the part in the store, not a file of its own.
      const uploaded = provider.inputs === 'file' ? inputFileId : null;
      for (const fileId of [uploaded, batch?.outputFileId, batch?.errorFileId]) {
        if (!fileId) continue;
        if (await provider.deleteFile(fileId).then(() => true, leftToExpire)) deleted.push(fileId);
      }
      log.info('provider files deleted', { ...ids, file_ids: deleted });
      return deleted;
    },
  };
}
