import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatchRecord, FileRecord, Progress } from './store.js';

const STATE_FILE = 'state.json';
const VERSION = 1;
/** Long enough that a burst of changes (an upload, a batch's transitions) costs one write. */
const COALESCE_MS = 25;

/** Paths (`path`, `input_path`) are names within `dataDir`, so a moved directory still loads. */
export interface PersistedState {
  version: typeof VERSION;
  seq: number;
  files: FileRecord[];
  /** Progress as of the write: where a running batch resumes. */
  batches: (Omit<BatchRecord, 'progress'> & { progress: Progress })[];
  submissions: Record<string, number>;
}

/**
 * The store's records as one JSON file under `dataDir`, replaced atomically (temp file, then
 * rename), so a crash leaves either the previous or the next state, never half of one.
 * Changes are coalesced; contents of files are never in it, they are already on disk.
 */
export class StateFile {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private queued = false;
  private failure: unknown = null;
  private closed = false;

  constructor(
    private readonly dataDir: string,
    private readonly snapshot: () => PersistedState,
  ) {}

  static async read(dataDir: string): Promise<PersistedState | null> {
    const path = join(dataDir, STATE_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const state = JSON.parse(text) as PersistedState;
    if (state.version !== VERSION) {
      throw new Error(`${path} has an unknown format; remove ${dataDir} to start afresh.`);
    }
    return state;
  }

  /**
   * Removes what a stopped process left behind: output files written but not yet attached to
   * a batch, uploads cut short, a temp state file. Only names the emulator makes are touched.
   */
  static async sweep(dataDir: string, keep: Set<string>): Promise<void> {
    const names = await readdir(dataDir);
    const stray = names.filter(
      (name) => (name.startsWith('blob_') && !keep.has(name)) || name === `${STATE_FILE}.tmp`,
    );
    await Promise.all(stray.map((name) => rm(join(dataDir, name), { force: true })));
  }

  changed(): void {
    if (this.closed) return;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.write();
    }, COALESCE_MS);
  }

  /**
   * Writes a last time, since running batches have made progress that no change announced, and
   * stops listening to changes.
   */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.write();
    }
    await this.writing;
    if (this.failure) throw this.failure;
  }

  /**
   * One write at a time, and at most one waiting behind it; the waiting one takes its snapshot
   * when it starts, so it saves every change made until then.
   */
  private write(): Promise<void> {
    if (this.queued) return this.writing;
    this.queued = true;
    const path = join(this.dataDir, STATE_FILE);
    this.writing = this.writing.then(async () => {
      this.queued = false;
      try {
        await writeFile(`${path}.tmp`, JSON.stringify(this.snapshot()));
        await rename(`${path}.tmp`, path);
        this.failure = null;
      } catch (err) {
        // Nobody awaits a coalesced write; close() reports it if no later write succeeded.
        this.failure = err;
      }
    });
    return this.writing;
  }
}
