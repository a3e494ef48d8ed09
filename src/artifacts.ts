import type { Readable } from 'node:stream';
import type {
  ArtifactName,
  ClientValidation,
  FilePath,
  InputLocation,
} from '../workflows/types.js';
import type { JsonlLine, JsonlWriter, ReadJsonlOptions, WriteStats } from './jsonl.js';

/** Which version of an input a validation read: its size and when it was written. */
export type InputVersion = Pick<ClientValidation, 'bytes' | 'mtimeMs'>;

/**
 * Files a run produces (parts, downloads, results), addressed by run id and a relative name
 * such as `parts/part-0001.jsonl`, and the runs' inputs. Writes are atomic: a reader sees a
 * whole artifact or none. Nothing here is a path on a disk, so that clients and workers need
 * share nothing but the store. A missing artifact is an error with Node's `ENOENT` code and its
 * location as `path` (see {@link notFound}), whatever the store.
 */
export interface ArtifactStore {
  /** Where the artifacts are, for messages: a folder, or `s3://bucket/prefix`. */
  readonly location: string;
  /** Throws a {@link StoreSettingsError} when the store cannot be read and written. */
  check(): Promise<void>;
  exists(runId: string, name: ArtifactName): Promise<boolean>;
  /** Size in bytes. */
  size(runId: string, name: ArtifactName): Promise<number>;
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
  /**
   * Calls `use` with the artifact as a Blob that streams from disk when read (what a provider
   * upload takes); the Blob is valid until `use` settles.
   */
  withBlob<T>(runId: string, name: ArtifactName, use: (blob: Blob) => Promise<T>): Promise<T>;
  /** Removes a file or a folder of artifacts; a missing one is not an error. */
  remove(runId: string, name: ArtifactName): Promise<void>;
  /** The ids of the runs that have artifacts here. */
  runs(): AsyncIterable<string>;
  /** Removes every artifact of a run (its uploaded input too). */
  removeRun(runId: string): Promise<void>;
  /**
   * Makes a client's requests file readable by the workers, and says where: the local store's
   * workers share the client's disk, so the path itself; the S3 store uploads it once per run.
   */
  putInput(runId: string, file: FilePath, version: InputVersion): Promise<InputLocation>;
  /** The version of an input as stored, or null when there is none. */
  inputVersion(location: InputLocation): Promise<InputVersion | null>;
  readInput(location: InputLocation): AsyncIterable<Uint8Array>;
  /**
   * For writing an object of the result cache (src/cache.ts) line by line; nothing appears
   * until `commit()`, and then whole.
   */
  cacheWriter(name: CacheObjectName): Promise<JsonlWriter>;
  /** A cache object's lines; none when there is no such object. */
  readCacheLines(name: CacheObjectName): AsyncIterable<JsonlLine>;
  /** `length` bytes of a cache object from byte `offset`, or null when there is no such object. */
  readCacheRange(name: CacheObjectName, offset: number, length: number): Promise<string | null>;
  /** The cache's objects whose names start with `prefix` (all of them without), sized and dated. */
  cacheObjects(prefix?: string): AsyncIterable<CacheObjectInfo>;
  /** A missing object is not an error. */
  removeCacheObject(name: CacheObjectName): Promise<void>;
}

/** A result cache entry's key: `<provider>/<sha-256 in hex>` (see `cacheKeyOf`). */
export type CacheKey = string & { readonly __cacheKey: true };

/**
 * An object of the result cache: `<provider>/<kind>/<file>`, such as `openai/packs/<id>.jsonl`
 * (see src/cache.ts for the kinds).
 */
export type CacheObjectName = string & { readonly __cacheObject: true };

export interface CacheObjectInfo {
  name: CacheObjectName;
  bytes: number;
  modified: Date;
}

export class InvalidArtifactPathError extends Error {
  override name = 'InvalidArtifactPathError';
}

/** A store setting that does not work (no such bucket, refused credentials, no endpoint). */
export class StoreSettingsError extends Error {
  override name = 'StoreSettingsError';
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const NAME_SEGMENT = /^[A-Za-z0-9._-]+$/;

export function isValidRunId(runId: string): boolean {
  return RUN_ID.test(runId) && !runId.includes('..');
}

/** The segments of `runs/<runId>/<name>`, checked: none can climb out of the run. */
export function artifactSegments(runId: string, name: ArtifactName): string[] {
  if (!isValidRunId(runId)) throw new InvalidArtifactPathError(`invalid run id: ${runId}`);
  const segments = name.split('/');
  if (!segments.every((s) => NAME_SEGMENT.test(s) && s !== '.' && s !== '..')) {
    throw new InvalidArtifactPathError(`invalid artifact name: ${name}`);
  }
  return ['runs', runId, ...segments];
}

const CACHE_OBJECT = /^[a-z][a-z-]*\/[a-z0-9]+\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The segments of a cache object, `cache/<provider>/<kind>/<file>`, checked as artifacts are. */
export function cacheObjectSegments(name: CacheObjectName): string[] {
  if (!CACHE_OBJECT.test(name) || name.includes('..')) {
    throw new InvalidArtifactPathError(`invalid cache object name: ${name}`);
  }
  return ['cache', ...name.split('/')];
}

/**
 * The name of the object stored under `cache/<path>`, or null for anything else there (a
 * writer's temp file).
 */
export function cacheObjectFrom(path: string): CacheObjectName | null {
  return CACHE_OBJECT.test(path) && !path.includes('..') ? (path as CacheObjectName) : null;
}

/** What every store throws for a missing artifact, shaped like Node's own for a missing file. */
export function notFound(location: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${location}: no such artifact`), {
    code: 'ENOENT',
    path: location,
  });
}

export function isNotFound(err: unknown): boolean {
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
  /** What classify returned for an attempt: a retry of it answers with this, downloads gone. */
  classified: (part: number, attempt: number) =>
    named(`results/${attemptStem(part, attempt)}.classified.json`),
  /** The provider file id an upload made, so a retried upload reuses it. */
  upload: (part: number, attempt: number) => named(`uploads/${attemptStem(part, attempt)}.json`),
  /**
   * A batch creation of an attempt: written with the time before the create is sent, and again
   * with the batch id once it answers, so a try whose answer was lost knows where to look.
   */
  creation: (part: number, attempt: number, tryNo: number) =>
    named(`creations/${attemptStem(part, attempt)}-try-${tryNo}.json`),
  download: (part: number, attempt: number, kind: 'output' | 'error') =>
    named(`downloads/${attemptStem(part, attempt)}.${kind}.jsonl`),
  /** The deadline fallback's answers, as a batch output file, and the chunks it stores them in. */
  syncOutput: (part: number, attempt: number) =>
    named(`downloads/${attemptStem(part, attempt)}.sync.jsonl`),
  syncChunk: (part: number, attempt: number, chunk: number) =>
    named(`sync/${attemptStem(part, attempt)}.chunk-${chunk}.jsonl`),
  /** The file name the provider sees: it finds an upload an earlier try made. */
  uploadFilename: (runId: string, part: number, attempt: number) =>
    `nightshift-${runId}-${attemptStem(part, attempt)}.jsonl`,
  /** The requests file a client uploaded to a store the workers do not share a disk with. */
  input: named('input.jsonl'),
  results: named('results.jsonl'),
  /** Records mode: the input records, one line per request in input order, for exports. */
  records: named('records.jsonl'),
  /** Written once records.jsonl is whole: its columns (see `RecordsManifest`). */
  recordsManifest: named('records.json'),
  summary: named('summary.json'),
  /** What no step reads once the parts are done (downloads, synchronous answers). */
  beforeMerge: [named('downloads'), named('sync')],
  /** The parts as prepare split them, and their resubmission files. */
  parts: named('parts'),
  /** What merge reads (parts, the attempts' results, the cache's answers). */
  merged: [named('parts'), named('results'), named('cached.jsonl')],
  /** The JSON Schema `submit --output-schema` gave every response's output. */
  outputSchema: named('output-schema.json'),
  /** Input lines answered from the result cache (`CachedLine`s, in input order). */
  cached: named('cached.jsonl'),
} as const;
