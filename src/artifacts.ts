import { createReadStream } from 'node:fs';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { ArtifactName, FilePath } from '../workflows/types.js';
import {
  type JsonlLine,
  JsonlWriter,
  type ReadJsonlOptions,
  readJsonlLines,
  type WriteStats,
  writeLines,
  writeStream,
} from './jsonl.js';

/**
 * Files a run produces (parts, downloads, results), addressed by run id and a relative name
 * such as `parts/part-0001.jsonl`. Writes are atomic: a reader sees a whole file or none.
 */
export interface ArtifactStore {
  /** Where the artifact lives on this machine's file system. */
  path(runId: string, name: ArtifactName): FilePath;
  exists(runId: string, name: ArtifactName): Promise<boolean>;
  /** Writes each string as one line. */
  writeAtomic(
    runId: string,
    name: ArtifactName,
    lines: AsyncIterable<string> | Iterable<string>,
  ): Promise<WriteStats>;
  /** Copies bytes as they come (a download). */
  writeStream(
    runId: string,
    name: ArtifactName,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<WriteStats>;
  /** For writing line by line; nothing appears until `commit()`. */
  writer(runId: string, name: ArtifactName): Promise<JsonlWriter>;
  writeJson(runId: string, name: ArtifactName, value: unknown): Promise<void>;
  /** The parsed JSON, or null when the artifact does not exist. */
  readJson<T>(runId: string, name: ArtifactName): Promise<T | null>;
  readLines(
    runId: string,
    name: ArtifactName,
    options?: ReadJsonlOptions,
  ): AsyncIterable<JsonlLine>;
  read(runId: string, name: ArtifactName): Readable;
  /** Removes a file or a folder of artifacts; a missing one is not an error. */
  remove(runId: string, name: ArtifactName): Promise<void>;
}

export class InvalidArtifactPathError extends Error {
  override name = 'InvalidArtifactPathError';
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const NAME_SEGMENT = /^[A-Za-z0-9._-]+$/;

export function isValidRunId(runId: string): boolean {
  return RUN_ID.test(runId) && !runId.includes('..');
}

/** `<root>/runs/<runId>/<name>`; dirs are 0o700 and files 0o600, as they hold prompts. */
export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  runDir(runId: string): string {
    if (!isValidRunId(runId)) throw new InvalidArtifactPathError(`invalid run id: ${runId}`);
    return join(this.root, 'runs', runId);
  }

  path(runId: string, name: ArtifactName): FilePath {
    const runDir = this.runDir(runId);
    const segments = name.split('/');
    if (!segments.every((s) => NAME_SEGMENT.test(s) && s !== '.' && s !== '..')) {
      throw new InvalidArtifactPathError(`invalid artifact name: ${name}`);
    }
    const path = join(runDir, ...segments);
    // The checks above already keep it inside; this guards against a future loosening of them.
    if (!path.startsWith(runDir + sep)) {
      throw new InvalidArtifactPathError(`artifact name escapes the run: ${name}`);
    }
    return path;
  }

  async exists(runId: string, name: ArtifactName): Promise<boolean> {
    try {
      await access(this.path(runId, name));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async writeAtomic(
    runId: string,
    name: ArtifactName,
    lines: AsyncIterable<string> | Iterable<string>,
  ): Promise<WriteStats> {
    return writeLines(await this.prepareFile(runId, name), lines);
  }

  async writeStream(
    runId: string,
    name: ArtifactName,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<WriteStats> {
    return writeStream(await this.prepareFile(runId, name), chunks);
  }

  async writer(runId: string, name: ArtifactName): Promise<JsonlWriter> {
    return JsonlWriter.open(await this.prepareFile(runId, name));
  }

  async writeJson(runId: string, name: ArtifactName, value: unknown): Promise<void> {
    // Pretty-printed: these are small and people read them (summary.json, manifests).
    await this.writeAtomic(runId, name, [JSON.stringify(value, null, 2)]);
  }

  async readJson<T>(runId: string, name: ArtifactName): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path(runId, name), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    return JSON.parse(text) as T;
  }

  readLines(
    runId: string,
    name: ArtifactName,
    options?: ReadJsonlOptions,
  ): AsyncIterable<JsonlLine> {
    return readJsonlLines(this.path(runId, name), options);
  }

  read(runId: string, name: ArtifactName): Readable {
    return createReadStream(this.path(runId, name));
  }

  async remove(runId: string, name: ArtifactName): Promise<void> {
    await rm(this.path(runId, name), { recursive: true, force: true });
  }

  private async prepareFile(runId: string, name: ArtifactName): Promise<string> {
    const path = this.path(runId, name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    return path;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

const pad = (n: number) => String(n).padStart(4, '0');

/** `part-0003.attempt-2`: the stem of every file of one attempt of one part. */
const attemptStem = (part: number, attempt: number) => `part-${pad(part)}.attempt-${attempt}`;

/** The one place artifact names are made. */
const named = (name: string) => name as ArtifactName;

/** Every artifact of a run, by name: shared by the activities and clients that use them. */
export const artifactNames = {
  /** A part as prepare split it (attempt 1), or the resubmission file of a later attempt. */
  part: (part: number, attempt = 1) =>
    named(
      attempt === 1 ? `parts/part-${pad(part)}.jsonl` : `parts/${attemptStem(part, attempt)}.jsonl`,
    ),
  manifest: named('parts/manifest.json'),
  attemptResults: (part: number, attempt: number) =>
    named(`results/${attemptStem(part, attempt)}.jsonl`),
  /** The provider file id an upload made, so a retried upload reuses it. */
  upload: (part: number, attempt: number) => named(`uploads/${attemptStem(part, attempt)}.json`),
  download: (part: number, attempt: number, kind: 'output' | 'error') =>
    named(`downloads/${attemptStem(part, attempt)}.${kind}.jsonl`),
  /** The file name the provider sees: it finds an upload an earlier try made. */
  uploadFilename: (runId: string, part: number, attempt: number) =>
    `nightshift-${runId}-${attemptStem(part, attempt)}.jsonl`,
  /** Temporary files of one attempt's classify, removed when it ends. */
  scratch: (part: number, attempt: number) => named(`scratch/${attemptStem(part, attempt)}`),
  results: named('results.jsonl'),
  summary: named('summary.json'),
} as const;
