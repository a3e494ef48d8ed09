import type OpenAI from 'openai';
import { APIError, NotFoundError } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { CANCELLABLE_BATCH_STATUSES } from '../../../workflows/contract.js';
import type { ProviderName } from '../../../workflows/provider-names.js';
import type { BatchSnapshot } from '../../../workflows/types.js';
import { cancelUnlessEnded } from '../failures.js';
import type { BatchKey, BatchProvider, CreateBatchRequest, LostUpload } from '../provider.js';
import { type SyncAnswer, syncAnswer } from '../sync.js';
import { callOpenAI } from './errors.js';

/** How far back to look for a batch or file an earlier try of the same activity made. */
const LOOKBACK_ITEMS = 1_000;

/**
 * How long an uploaded file, and a batch's output and error files, live at OpenAI when nothing
 * deletes them: a run deletes its files once their results are stored, so this only bounds what
 * a run that never got there leaves behind (a part that failed, a run terminated, files kept on
 * purpose). A week outlives the 24 h completion window, the token-limit back-offs that reuse an
 * upload, and a worker fleet down for days before it downloads; OpenAI's own default for batch
 * input is 30 days, and for output files forever. The output's clock starts at the file's
 * creation, when the batch ends.
 */
const FILE_LIFETIME = { anchor: 'created_at', seconds: 7 * 24 * 3600 } as const;

/** What a server speaking OpenAI's Batch API does differently from OpenAI itself. */
export interface OpenAIDialect {
  /**
   * Takes `expires_after` on uploads and `output_expires_after` on batches. Servers that do not
   * may refuse them; their files then live as long as the server keeps them, unless the run's
   * clean-up deletes them first (it does once results are stored).
   */
  fileLifetimes: boolean;
  /** The purpose batch input is uploaded with (OpenAI's `batch`). */
  inputPurpose: string;
  /**
   * Keeps batch metadata, which then carries the batch's {@link BatchKey}. A server that keeps
   * none is sent none, and the batch a lost create made is found by the upload it names.
   */
  batchMetadata: boolean;
  /** The SDK's `fetch`, for a server whose answers need rewriting into OpenAI's shapes. */
  fetch?: typeof globalThis.fetch;
}

export const OPENAI_DIALECT: OpenAIDialect = {
  fileLifetimes: true,
  inputPurpose: 'batch',
  batchMetadata: true,
};

/** Batch metadata keys that carry a batch's {@link BatchKey}, so an earlier try finds it. */
const KEY_FIELDS = {
  nightshift_run: (k: BatchKey) => k.runId,
  nightshift_part: (k: BatchKey) => String(k.part),
  nightshift_attempt: (k: BatchKey) => String(k.attempt),
  nightshift_try: (k: BatchKey) => String(k.try),
} as const;

/** The metadata a batch is created with: the user's pairs, then the key's. */
function batchMetadata(key: BatchKey, metadata: Record<string, string>): Record<string, string> {
  const fields = Object.entries(KEY_FIELDS).map(([name, of]) => [name, of(key)]);
  return { ...metadata, ...Object.fromEntries(fields) };
}

function carriesKey(batch: Batch, key: BatchKey): boolean {
  const meta = batch.metadata ?? {};
  return Object.entries(KEY_FIELDS).every(([name, of]) => meta[name] === of(key));
}

/** OpenAI's statuses are Nightshift's; the API sends null for absent optional fields. */
function snapshotOf(batch: Batch): BatchSnapshot {
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

/** The OpenAI Batch API (and any server that speaks it) through the official SDK. */
export class OpenAIBatchProvider implements BatchProvider {
  readonly inputs = 'file';
  readonly findsBatchesBy: 'tag' | 'upload';

  /** Azure and OpenAI-compatible servers speak the same API under their own names. */
  constructor(
    private readonly openai: OpenAI,
    readonly name: ProviderName = 'openai',
    private readonly dialect: OpenAIDialect = OPENAI_DIALECT,
  ) {
    this.findsBatchesBy = dialect.batchMetadata ? 'tag' : 'upload';
  }

  findFile(filename: string, bytes: number): Promise<string | null> {
    return callOpenAI('find an earlier upload', async () => {
      let seen = 0;
      for await (const file of this.openai.files.list({
        // The SDK's type names OpenAI's purposes only; the server's own is sent as it is.
        purpose: this.dialect.inputPurpose as 'batch',
        order: 'desc',
        limit: 100,
      })) {
        if (file.filename === filename && file.bytes === bytes) return file.id;
        if (++seen >= LOOKBACK_ITEMS) break;
      }
      return null;
    });
  }

  async uploadFile(blob: Blob, filename: string): Promise<string> {
    const file = await callOpenAI(`upload ${filename}`, () =>
      this.openai.files.create({
        file: new File([blob], filename, { type: 'application/jsonl' }),
        purpose: this.dialect.inputPurpose as 'batch',
        ...(this.dialect.fileLifetimes ? { expires_after: FILE_LIFETIME } : {}),
      }),
    );
    return file.id;
  }

  /**
   * The batch that carries the key's metadata, or, on a server that keeps none, the one made
   * from the lost create's upload since it was sent: an upload is made for one attempt, and
   * only its creations (a try after a token-limit failure reuses it) name it, each sent after
   * the one before ended.
   */
  findBatch(key: BatchKey, lost: LostUpload | null): Promise<string | null> {
    if (!this.dialect.batchMetadata && !lost) return Promise.resolve(null);
    const matches = (batch: Batch) =>
      lost
        ? batch.input_file_id === lost.fileId && batch.created_at * 1000 >= lost.since
        : carriesKey(batch, key);
    return callOpenAI('find an earlier batch', async () => {
      let seen = 0;
      for await (const batch of this.openai.batches.list({ limit: 100 })) {
        if (matches(batch)) return batch.id;
        if (++seen >= LOOKBACK_ITEMS) break;
      }
      return null;
    });
  }

  async createBatch({ key, input, endpoint, metadata }: CreateBatchRequest): Promise<string> {
    if (!('fileId' in input)) throw new Error('OpenAI batches are made from an uploaded file');
    const { fileId } = input;
    const batch = await callOpenAI('create batch', () =>
      this.openai.batches.create(
        {
          input_file_id: fileId,
          endpoint,
          completion_window: '24h',
          ...(this.dialect.batchMetadata ? { metadata: batchMetadata(key, metadata) } : {}),
          ...(this.dialect.fileLifetimes ? { output_expires_after: FILE_LIFETIME } : {}),
        },
        { maxRetries: 0 },
      ),
    );
    return batch.id;
  }

  async retrieveBatch(batchId: string): Promise<BatchSnapshot> {
    return snapshotOf(await callOpenAI(`retrieve ${batchId}`, () => this.retrieve(batchId)));
  }

  async cancelBatch(batchId: string): Promise<BatchSnapshot> {
    const batch = await callOpenAI(`cancel ${batchId}`, () =>
      cancelUnlessEnded({
        retrieve: () => this.retrieve(batchId),
        cancel: () => this.openai.batches.cancel(batchId),
        running: (b) => CANCELLABLE_BATCH_STATUSES.includes(b.status),
      }),
    );
    return snapshotOf(batch);
  }

  async resultLines(fileId: string): Promise<AsyncIterable<Uint8Array>> {
    const response = await callOpenAI(`download ${fileId}`, () =>
      this.openai.files.content(fileId),
    );
    if (!response.body) throw new Error(`download ${fileId}: empty response body`);
    // Iterated as the web stream it is: a Node stream made from it would sit unread while the
    // file is opened, and a connection dying then emits an 'error' nobody listens to.
    return response.body;
  }

  deleteFile(fileId: string): Promise<void> {
    return callOpenAI(`delete ${fileId}`, async () => {
      await this.openai.files.delete(fileId).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) throw err;
      });
    });
  }

  private retrieve(batchId: string): Promise<Batch> {
    return this.openai.batches.retrieve(batchId);
  }

  /** The line's `body` to its `url` (the same endpoint a batch sends it to), once. */
  sendRequest(line: string): Promise<SyncAnswer> {
    const { url, body } = JSON.parse(line) as { url: string; body: Record<string, unknown> };
    // The SDK's base URL ends in /v1 (Azure's maps the path to the body's deployment).
    const path = url.replace(/^\/v1(?=\/)/, '');
    return syncAnswer(
      () => this.openai.post(path, { body, maxRetries: 0 }).withResponse(),
      (err) => err instanceof APIError,
    );
  }
}
