import { activityInfo, log } from '@temporalio/activity';
import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import { type Providers, providerFor } from '../src/providers/provider.js';
import { failures } from '../workflows/contract.js';
import type { ProviderName } from '../workflows/provider-names.js';
import { resultFilesPending } from '../workflows/result-files.js';
import type { ArtifactName } from '../workflows/types.js';
import { collectingGarbage } from './garbage.js';
import { whileHeartbeating } from './heartbeat.js';
import { Limiter } from './limiter.js';
import { countBytes } from './metrics.js';

/** One attempt of one part of a run: what log lines and artifact names are keyed by. */
export interface AttemptRef {
  runId: string;
  provider: ProviderName;
  part: number;
  attempt: number;
}

export interface UploadInput extends AttemptRef {
  /** The JSONL to upload: the part, or the leftovers of the previous attempt. */
  requests: ArtifactName;
}

export interface DownloadInput extends AttemptRef {
  batchId: string;
}

export interface DownloadResult {
  /** The downloaded output and error files (null when the batch had none). */
  output: ArtifactName | null;
  errors: ArtifactName | null;
}

/**
 * Uploads and downloads in flight at once in this process. The parts of a run start (and end)
 * together. An upload through Node's fetch holds most of its part (up to 200 MB) in memory while
 * in flight, since fetch keeps a streamed request body's chunks until the request ends
 * (nodejs/undici#4058; measured: 49 MB live for a 50 MB part sent to a slow reader). The OpenAI
 * SDK's uploads go around it (`upload-fetch.ts`); Gemini's still go through it. Two at once keep
 * the link busy.
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

/** Log fields that let an operator follow one run, part and attempt through the logs. */
const ids = ({ runId, part, attempt }: AttemptRef) => ({ run_id: runId, part, attempt });

/** Moving parts to the provider and results back, streamed between it and the store. */
export function transferActivities(providers: Providers, store: ArtifactStore) {
  async function downloadFile(ref: AttemptRef, fileId: string, kind: 'output' | 'error') {
    const name = artifactNames.download(ref.part, ref.attempt, kind);
    const lines = await providerFor(providers, ref.provider).resultLines(fileId);
    const written = await store.writeStream(ref.runId, name, lines);
    if (written.bytes > 0 && !written.endsWithNewline) {
      // A cut-off download ends mid-line: fetch it again rather than lose requests.
      throw failures.TruncatedDownload(
        `download ${fileId}: truncated after ${written.bytes} bytes`,
      );
    }
    countBytes('downloaded', written.bytes);
    return { name, lines: written.lines };
  }

  return {
    /**
     * Uploads an attempt's requests; reuses the file an earlier try already uploaded. A provider
     * that takes requests inline gets nothing uploaded: the requests' name in the store stands
     * for the file, and the create sends them.
     */
    async upload(input: UploadInput): Promise<string> {
      const provider = providerFor(providers, input.provider);
      if (provider.inputs === 'inline') return input.requests;
      const record = artifactNames.upload(input.part, input.attempt);
      const known = await store.readJson<{ fileId: string }>(input.runId, record);
      if (known) return known.fileId;
      const filename = artifactNames.uploadFilename(input.runId, input.part, input.attempt);
      const size = await store.size(input.runId, input.requests);
      const fileId =
        (await provider.findFile(filename, size)) ??
        (await whileHeartbeating(() =>
          transfer(() =>
            store.withBlob(input.runId, input.requests, (blob) =>
              provider.uploadFile(blob, filename),
            ),
          ),
        ));
      await store.writeJson(input.runId, record, { fileId });
      countBytes('uploaded', size);
      log.info('part uploaded', { ...ids(input), file_id: fileId, bytes: size });
      return fileId;
    },

    /**
     * Streams an ended batch's output and error files into the artifact store. The batch is
     * read afresh, not taken from the workflow's last poll, so that a retry sees file ids and
     * counts as the provider has them now.
     */
    async download(input: DownloadInput): Promise<DownloadResult> {
      const batch = await providerFor(providers, input.provider).retrieveBatch(input.batchId);
      if (resultFilesPending(batch)) {
        throw failures.ResultFilesNotReady(
          `batch ${batch.id} ended ${batch.status}, but its result files are not published yet`,
        );
      }
      return whileHeartbeating(() =>
        transfer(async () => {
          const output = batch.outputFileId
            ? await downloadFile(input, batch.outputFileId, 'output')
            : null;
          const errors = batch.errorFileId
            ? await downloadFile(input, batch.errorFileId, 'error')
            : null;
          const lines = output?.lines ?? 0;
          const expected = batch.requestCounts.completed;
          if (batch.status === 'completed' && lines < expected) {
            const message = `batch ${batch.id}: output has ${lines} lines, expected ${expected}`;
            if (activityInfo().attempt < SHORT_OUTPUT_ATTEMPTS) {
              throw failures.TruncatedDownload(message);
            }
            log.warn(`${message}; taken as it is, the missing requests go to the next attempt`, {
              ...ids(input),
              batch_id: batch.id,
            });
          }
          return { output: output?.name ?? null, errors: errors?.name ?? null };
        }),
      );
    },
  };
}
