import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Batch } from 'openai/resources/batches';
import { badRequest, notFound } from './errors.js';
import type { EmulatedEndpoint, Usage } from './fake-responses.js';
import type { BatchFaults } from './faults.js';
import { randomId } from './random.js';
import type { PersistedState } from './state-file.js';

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export interface FileRecord {
  id: string;
  seq: number;
  filename: string;
  purpose: string;
  bytes: number;
  lines: number;
  created_at: number;
  expires_at: number | null;
  path: string;
  deleted: boolean;
}

export const apiOf = (batch: BatchRecord): BatchApi => batch.api ?? 'openai';

/** Deleted, or past its `expires_at`: OpenAI then answers for it as for an unknown id. */
const gone = (file: FileRecord): boolean =>
  file.deleted || (file.expires_at !== null && file.expires_at <= nowSeconds());

/** The statuses of OpenAI's published API, as its official SDK types them. */
export type BatchStatus = Batch['status'];

/** Statuses a batch never leaves; every other one has a run driving it. */
export const ENDED_STATUSES: ReadonlySet<BatchStatus> = new Set([
  'failed',
  'completed',
  'expired',
  'cancelled',
]);

export interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

export interface RequestCounts {
  total: number;
  completed: number;
  failed: number;
}

export interface Progress {
  request_counts: RequestCounts;
  usage: Usage;
}

/** The API a batch was made through; each API sees only its own batches. */
export type BatchApi = 'openai' | 'anthropic' | 'gemini';

export interface BatchRecord {
  id: string;
  seq: number;
  /** Absent for OpenAI's batches (and in state saved before there were others). */
  api?: Exclude<BatchApi, 'openai'>;
  /** Deleted through Anthropic's API, which deletes batches (OpenAI's never does). */
  deleted?: boolean;
  endpoint: EmulatedEndpoint;
  input_file_id: string;
  /** The batch's own link to the input file's content. */
  input_path: string;
  metadata: Record<string, string> | null;
  output_expires_after_seconds: number | null;
  faults: BatchFaults;
  status: BatchStatus;
  model: string | null;
  errors: BatchError[] | null;
  output_file_id: string | null;
  error_file_id: string | null;
  created_ms: number;
  created_at: number;
  expires_at: number;
  in_progress_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  /** Counts while requests are being worked through; fixed once processing stopped. */
  progress: () => Progress;
}

export const NO_PROGRESS: Progress = {
  request_counts: { total: 0, completed: 0, failed: 0 },
  usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
};

export interface Page<T> {
  data: T[];
  has_more: boolean;
}

const DAY = 86_400;

/**
 * Metadata of files and batches in memory; file contents on disk under `dataDir`. Every change
 * is announced through `onChange`, which is how the records get persisted.
 */
export class Store {
  private files = new Map<string, FileRecord>();
  private batches = new Map<string, BatchRecord>();
  private submissions = new Map<string, number>();
  private seq = 0;
  onChange: () => void = () => {};

  constructor(readonly dataDir: string) {}

  /** The records of a saved snapshot; batches that were running still need a run to resume. */
  static restore(dataDir: string, state: PersistedState): Store {
    const store = new Store(dataDir);
    store.seq = state.seq;
    for (const file of state.files) {
      store.files.set(file.id, { ...file, path: join(dataDir, file.path) });
    }
    for (const { progress, ...batch } of state.batches) {
      const record = { ...batch, input_path: join(dataDir, batch.input_path) };
      store.batches.set(batch.id, { ...record, progress: () => progress });
    }
    store.submissions = new Map(Object.entries(state.submissions));
    return store;
  }

  /** Running batches are saved with the progress made so far, which is where they resume. */
  snapshot(): PersistedState {
    return {
      version: 1,
      seq: this.seq,
      files: this.allFiles().map((f) => ({ ...f, path: basename(f.path) })),
      batches: this.allBatches().map((b) => ({
        ...b,
        input_path: basename(b.input_path),
        progress: b.progress(),
      })),
      submissions: this.submissionCounts(),
    };
  }

  /** Names of the blobs the records still point at. */
  blobNames(): Set<string> {
    const live = this.allFiles().filter((f) => !gone(f));
    const running = this.allBatches().filter((b) => !ENDED_STATUSES.has(b.status));
    return new Set(
      [...live.map((f) => f.path), ...running.map((b) => b.input_path)].map((p) => basename(p)),
    );
  }

  changed(): void {
    this.onChange();
  }

  newFilePath(): string {
    return join(this.dataDir, randomId('blob_', 12));
  }

  nextSeq(): number {
    return ++this.seq;
  }

  addFile(
    file: Pick<FileRecord, 'filename' | 'purpose' | 'bytes' | 'lines' | 'path'>,
    expiresAfterSeconds: number | null,
  ): FileRecord {
    const created = nowSeconds();
    // OpenAI expires batch input files after 30 days unless told otherwise; others never.
    const lifetime = expiresAfterSeconds ?? (file.purpose === 'batch' ? 30 * DAY : null);
    const record: FileRecord = {
      ...file,
      id: randomId('file-', 12),
      seq: this.nextSeq(),
      created_at: created,
      expires_at: lifetime === null ? null : created + lifetime,
      deleted: false,
    };
    this.files.set(record.id, record);
    this.changed();
    return record;
  }

  getFile(id: string): FileRecord {
    const file = this.files.get(id);
    if (!file || gone(file)) throw notFound(`No such File object: ${id}`);
    return file;
  }

  async deleteFile(id: string): Promise<FileRecord> {
    const file = this.getFile(id);
    file.deleted = true;
    this.changed();
    await rm(file.path, { force: true });
    return file;
  }

  listFiles(query: { purpose?: string; order: 'asc' | 'desc'; after?: string; limit: number }) {
    const live = [...this.files.values()].filter(
      (f) => !gone(f) && (query.purpose === undefined || f.purpose === query.purpose),
    );
    return paginate(live, this.files, query.order, query.after, query.limit);
  }

  addBatch(batch: BatchRecord): void {
    this.batches.set(batch.id, batch);
    this.changed();
  }

  getBatch(id: string, api: BatchApi): BatchRecord {
    const batch = this.batches.get(id);
    if (!batch || apiOf(batch) !== api || batch.deleted) {
      throw notFound(`No such Batch object: ${id}`);
    }
    return batch;
  }

  /** The API's batches, deleted ones left out, newest first. */
  batchesOf(api: BatchApi): BatchRecord[] {
    return this.allBatches()
      .filter((b) => apiOf(b) === api && !b.deleted)
      .sort((a, b) => b.seq - a.seq);
  }

  listBatches(api: BatchApi, after: string | undefined, limit: number): Page<BatchRecord> {
    return paginate(this.batchesOf(api), this.batches, 'desc', after, limit);
  }

  allFiles(): FileRecord[] {
    return [...this.files.values()];
  }

  allBatches(): BatchRecord[] {
    return [...this.batches.values()];
  }

  countSubmissions(customIds: Iterable<string>): void {
    for (const id of customIds) this.submissions.set(id, (this.submissions.get(id) ?? 0) + 1);
    this.changed();
  }

  submissionCounts(): Record<string, number> {
    return Object.fromEntries(this.submissions);
  }

  /** Forgets everything and removes every stored file's content. */
  async clear(): Promise<void> {
    const paths = [...this.files.values()].map((f) => f.path);
    this.files.clear();
    this.batches.clear();
    this.submissions.clear();
    await Promise.all(paths.map((p) => rm(p, { force: true })));
  }
}

/**
 * Cursor pagination by creation order. The cursor is looked up among everything ever created
 * (deleted files included), so deleting an item between pages does not break iteration.
 */
function paginate<T extends { id: string; seq: number }>(
  items: T[],
  all: Map<string, T>,
  order: 'asc' | 'desc',
  after: string | undefined,
  limit: number,
): Page<T> {
  const sorted = items.sort((a, b) => (order === 'asc' ? a.seq - b.seq : b.seq - a.seq));
  let rest = sorted;
  if (after !== undefined) {
    const cursor = all.get(after);
    if (!cursor) throw badRequest(`Invalid 'after': no object with id ${after}.`, 'after');
    rest = sorted.filter((item) =>
      order === 'asc' ? item.seq > cursor.seq : item.seq < cursor.seq,
    );
  }
  return { data: rest.slice(0, limit), has_more: rest.length > limit };
}
