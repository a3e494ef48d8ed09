import { openAsBlob } from 'node:fs';
import { access } from 'node:fs/promises';
import { activityInfo, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import { resultFilesPending } from '../workflows/result-files.js';
import type { BatchEndpoint, BatchSnapshot } from '../workflows/types.js';
import { collectingGarbage } from './garbage.js';
import { whileHeartbeating } from './heartbeat.js';
import { Limiter } from './limiter.js';
import { countBytes } from './metrics.js';
import { callProvider } from './provider-errors.js';

export interface ProviderDeps {
  openai: OpenAI;
  store: ArtifactStore;
}

export interface AttemptRef {
  runId: string;
  part: number;
  attempt: number;
}

export interface UploadInput extends AttemptRef {
  /** Artifact name of the JSONL to upload. */
  path: string;
}

export interface CreateBatchInput extends AttemptRef {
  /** Creations of this attempt before this one (a token-limit failure makes another). */
  try: number;
  fileId: string;
  endpoint: BatchEndpoint;
  metadata: Record<string, string>;
}

export interface DownloadInput extends AttemptRef {
  batchId: string;
}

export interface DownloadResult {
  outputPath: string | null;
  errorPath: string | null;
}

/**
 * Uploads and downloads in flight at once in this process. The parts of a run start (and end)
 * together, and an upload holds most of its part (up to 200 MB) in memory while in flight: Node's
 * fetch, which the SDK uses, keeps a streamed request body's chunks until the request ends
 * (nodejs/undici#4058; measured: 49 MB live for a 50 MB part sent to a slow reader). Two at once
 * keep the link busy.
 */
const transfers = new Limiter(2);

/** Runs a transfer in its turn, collecting the buffers it goes through. */
const transfer = <T>(task: () => Promise<T>) => transfers.run(() => collectingGarbage(task));

/**
 * Temporal attempts after which a download whose output holds fewer lines than the batch's
 * completed count is taken as it is: a provider whose count and file disagree would otherwise
 * hold the part forever. Classify resubmits the requests the file lacks.
 */
const SHORT_OUTPUT_ATTEMPTS = 5;

/** Statuses from which a batch can still be cancelled. */
const CANCELLABLE = ['validating', 'in_progress', 'finalizing'];

/** How far back to look for a batch or file an earlier try of the same activity made. */
const LOOKBACK_ITEMS = 1_000;

/** Log fields that let an operator follow one run, part and attempt through the logs. */
const ids = ({ runId, part, attempt }: AttemptRef) => ({ run_id: runId, part, attempt });

/** Provider metadata that names a batch's run, part, attempt and try: the idempotency key. */
export function batchMetadata(input: CreateBatchInput): Record<string, string> {
  return {
    ...input.metadata,
    nightshift_run: input.runId,
    nightshift_part: String(input.part),
    nightshift_attempt: String(input.attempt),
    nightshift_try: String(input.try),
  };
}

function sameKey(batch: Batch, key: Record<string, string>): boolean {
  const meta = batch.metadata ?? {};
  return ['nightshift_run', 'nightshift_part', 'nightshift_attempt', 'nightshift_try'].every(
    (k) => meta[k] === key[k],
  );
}

export function snapshotOf(batch: Batch): BatchSnapshot {
  return {
    id: batch.id,
    status: batch.status,
    requestCounts: {
      total: batch.request_counts?.total ?? 0,
      completed: batch.request_counts?.completed ?? 0,
      failed: batch.request_counts?.failed ?? 0,
    },
    outputFileId: batch.output_file_id ?? null,
    errorFileId: batch.error_file_id ?? null,
    errors: (batch.errors?.data ?? []).map((e) => ({
      code: e.code ?? '',
      message: e.message ?? '',
      line: e.line ?? null,
    })),
  };
}

export function providerActivities({ openai, store }: ProviderDeps) {
  async function findFile(filename: string, bytes: number): Promise<string | null> {
    let seen = 0;
    for await (const file of openai.files.list({ purpose: 'batch', order: 'desc', limit: 100 })) {
      if (file.filename === filename && file.bytes === bytes) return file.id;
      if (++seen >= LOOKBACK_ITEMS) break;
    }
    return null;
  }

  async function findBatch(key: Record<string, string>): Promise<Batch | null> {
    let seen = 0;
    for await (const batch of openai.batches.list({ limit: 100 })) {
      if (sameKey(batch, key)) return batch;
      if (++seen >= LOOKBACK_ITEMS) break;
    }
    return null;
  }

  async function downloadFile(
    ref: AttemptRef,
    fileId: string,
    kind: 'output' | 'error',
  ): Promise<{ path: string; lines: number }> {
    const name = artifactNames.download(ref.part, ref.attempt, kind);
    const response = await callProvider(`download ${fileId}`, () => openai.files.content(fileId));
    if (!response.body) throw new Error(`download ${fileId}: empty response body`);
    const { lines, bytes, endsWithNewline } = await store.writeStream(
      ref.runId,
      name,
      // Iterated as the web stream it is: a Node stream made from it would sit unread while the
      // file is opened, and a connection dying then emits an 'error' nobody listens to.
      response.body,
    );
    if (bytes > 0 && !endsWithNewline) {
      // A cut-off download ends mid-line: fetch it again rather than lose requests.
      throw ApplicationFailure.create({
        message: `download ${fileId}: truncated after ${bytes} bytes`,
        type: 'TruncatedDownload',
      });
    }
    countBytes('downloaded', bytes);
    return { path: name, lines };
  }

  return {
    /** Uploads a part (streamed from disk); reuses the file an earlier try already uploaded. */
    async upload(input: UploadInput): Promise<string> {
      const record = artifactNames.upload(input.part, input.attempt);
      const known = await store.readJson<{ fileId: string }>(input.runId, record);
      if (known) return known.fileId;
      const filename = artifactNames.uploadFilename(input.runId, input.part, input.attempt);
      const path = store.path(input.runId, input.path);
      // openAsBlob reports a missing file without an ENOENT code; access() reports it with one.
      await access(path);
      const blob = await openAsBlob(path);
      const fileId =
        (await callProvider('find an earlier upload', () => findFile(filename, blob.size))) ??
        (
          await whileHeartbeating(() =>
            transfer(() =>
              callProvider(`upload ${filename}`, () =>
                openai.files.create({
                  file: new File([blob], filename, { type: 'application/jsonl' }),
                  purpose: 'batch',
                }),
              ),
            ),
          )
        ).id;
      await store.writeJson(input.runId, record, { fileId });
      countBytes('uploaded', blob.size);
      log.info('part uploaded', { ...ids(input), file_id: fileId, bytes: blob.size });
      return fileId;
    },

    /**
     * Creates the batch of an attempt exactly once: the metadata names run, part, attempt and
     * try, and an earlier try's batch with the same metadata is returned instead of a new one.
     * The SDK's own retries are off here, since a retried POST could be billed twice.
     */
    async createBatch(input: CreateBatchInput): Promise<string> {
      const key = batchMetadata(input);
      const existing = await callProvider('find an earlier batch', () => findBatch(key));
      if (existing) {
        log.info('batch found from an earlier try', { ...ids(input), batch_id: existing.id });
        return existing.id;
      }
      const batch = await callProvider('create batch', () =>
        openai.batches.create(
          {
            input_file_id: input.fileId,
            endpoint: input.endpoint,
            completion_window: '24h',
            metadata: key,
          },
          { maxRetries: 0 },
        ),
      );
      log.info('batch created', { ...ids(input), batch_id: batch.id, file_id: input.fileId });
      return batch.id;
    },

    async pollBatch(batchId: string): Promise<BatchSnapshot> {
      return snapshotOf(
        await callProvider(`retrieve ${batchId}`, () => openai.batches.retrieve(batchId)),
      );
    },

    /**
     * Cancels a batch; one that already ended (or is ending) is left as it is, also when it ends
     * between the read and the cancel (the provider then refuses the cancel with a 400, which a
     * retry with the same batch would only meet again).
     */
    async cancelBatch(batchId: string): Promise<BatchSnapshot> {
      const retrieve = () => openai.batches.retrieve(batchId);
      const current = await callProvider(`retrieve ${batchId}`, retrieve);
      if (!CANCELLABLE.includes(current.status)) return snapshotOf(current);
      return snapshotOf(
        await callProvider(`cancel ${batchId}`, () =>
          openai.batches.cancel(batchId).catch(async (err: unknown) => {
            const now = await retrieve();
            if (CANCELLABLE.includes(now.status)) throw err;
            return now;
          }),
        ),
      );
    },

    /**
     * Streams a finished batch's output and error files into the artifact store. The batch is
     * read afresh, not taken from the workflow's last poll, so that a retry sees file ids and
     * counts as the provider has them now.
     */
    async download(input: DownloadInput): Promise<DownloadResult> {
      const batch = snapshotOf(
        await callProvider(`retrieve ${input.batchId}`, () =>
          openai.batches.retrieve(input.batchId),
        ),
      );
      if (resultFilesPending(batch)) {
        throw ApplicationFailure.create({
          message: `batch ${batch.id} ended ${batch.status}, but its result files are not published yet`,
          type: 'ResultFilesNotReady',
        });
      }
      return whileHeartbeating(() =>
        transfer(async () => {
          const output = batch.outputFileId
            ? await downloadFile(input, batch.outputFileId, 'output')
            : null;
          const error = batch.errorFileId
            ? await downloadFile(input, batch.errorFileId, 'error')
            : null;
          const lines = output?.lines ?? 0;
          if (batch.status === 'completed' && lines < batch.requestCounts.completed) {
            const message = `batch ${batch.id}: output has ${lines} lines, expected ${batch.requestCounts.completed}`;
            if (activityInfo().attempt < SHORT_OUTPUT_ATTEMPTS) {
              throw ApplicationFailure.create({ message, type: 'TruncatedDownload' });
            }
            log.warn(`${message}; taken as it is, the missing requests go to the next attempt`, {
              ...ids(input),
              batch_id: batch.id,
            });
          }
          return { outputPath: output?.path ?? null, errorPath: error?.path ?? null };
        }),
      );
    },
  };
}
