import { closeSync, createReadStream, openAsBlob, openSync, readSync } from 'node:fs';
import { access, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { ArtifactName, FilePath, InputLocation } from '../../workflows/types.js';
import {
  type ArtifactStore,
  artifactSegments,
  type CacheObjectInfo,
  type CacheObjectName,
  cacheObjectFrom,
  cacheObjectSegments,
  type InputVersion,
  InvalidArtifactPathError,
  isNotFound,
  isValidRunId,
  StoreSettingsError,
} from '../artifacts.js';
import {
  type JsonlLine,
  JsonlWriter,
  type ReadJsonlOptions,
  readFileChunks,
  readJsonlLines,
  type WriteStats,
  writeLines,
  writeStream,
} from '../jsonl.js';

/** Cache packs a store keeps open at most (file descriptors it holds for its lifetime). */
const OPEN_PACKS = 16;

/**
 * `<root>/runs/<runId>/<name>` on a disk every worker shares (one machine, or a shared volume);
 * dirs are 0o700 and files 0o600, as they hold prompts. Inputs are read where the client has
 * them.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;
  /** Packs of the result cache open for ranged reads, by path: a lookup reads many of each. */
  private readonly openPacks = new Map<string, number>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  get location(): string {
    return this.root;
  }

  /** Where the artifact lives on this machine's file system. */
  path(runId: string, name: ArtifactName): FilePath {
    const path = join(this.root, ...artifactSegments(runId, name));
    // The checks already keep it inside; this guards against a future loosening of them.
    if (!path.startsWith(join(this.root, 'runs', runId) + sep)) {
      throw new InvalidArtifactPathError(`artifact name escapes the run: ${name}`);
    }
    return path;
  }

  async check(): Promise<void> {
    // Nothing to reach: the folders are made as artifacts are written.
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

  async size(runId: string, name: ArtifactName): Promise<number> {
    return (await stat(this.path(runId, name))).size;
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

  async withBlob<T>(
    runId: string,
    name: ArtifactName,
    use: (blob: Blob) => Promise<T>,
  ): Promise<T> {
    return use(await openAsBlob(this.path(runId, name)));
  }

  async remove(runId: string, name: ArtifactName): Promise<void> {
    await rm(this.path(runId, name), { recursive: true, force: true });
  }

  async *runs(): AsyncGenerator<string> {
    const entries = await readdir(join(this.root, 'runs'), { withFileTypes: true }).catch(
      (err: unknown) => {
        if (isNotFound(err)) return [];
        throw err;
      },
    );
    for (const entry of entries)
      if (entry.isDirectory() && isValidRunId(entry.name)) yield entry.name;
  }

  async removeRun(runId: string): Promise<void> {
    if (!isValidRunId(runId)) throw new InvalidArtifactPathError(`invalid run id: ${runId}`);
    await rm(join(this.root, 'runs', runId), { recursive: true, force: true });
  }

  async putInput(_runId: string, file: FilePath): Promise<InputLocation> {
    return resolve(file);
  }

  async inputVersion(location: InputLocation): Promise<InputVersion | null> {
    const info = await stat(localInput(location)).catch((err: unknown) => {
      if (isNotFound(err)) return null;
      throw err;
    });
    return info && { bytes: info.size, mtimeMs: info.mtimeMs };
  }

  readInput(location: InputLocation): AsyncIterable<Uint8Array> {
    return readFileChunks(localInput(location));
  }

  async cacheWriter(name: CacheObjectName): Promise<JsonlWriter> {
    const path = this.cachePath(name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Renamed into place but not synced: a pack of 50,000 answers is ~65 MB to flush for
    // nothing. A pack the OS loses in a power cut reads back short or torn, and an entry that
    // does not parse as its key's is a miss.
    return JsonlWriter.open(path, { durable: false });
  }

  async *readCacheLines(name: CacheObjectName): AsyncGenerator<JsonlLine> {
    try {
      yield* readJsonlLines(this.cachePath(name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async readCacheRange(
    name: CacheObjectName,
    offset: number,
    length: number,
  ): Promise<string | null> {
    const path = this.cachePath(name);
    let fd = this.openPacks.get(path);
    if (fd === undefined) {
      try {
        fd = openSync(path, 'r');
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
      const [oldest] = this.openPacks;
      if (oldest && this.openPacks.size >= OPEN_PACKS) {
        this.openPacks.delete(oldest[0]);
        closeSync(oldest[1]);
      }
    }
    // Last used last: the map's order is the eviction order.
    this.openPacks.delete(path);
    this.openPacks.set(path, fd);
    // A read of a cached page takes microseconds: done at once, it leaves no read in flight on
    // a descriptor that the next call may close.
    const buffer = Buffer.alloc(length);
    return buffer.toString('utf8', 0, readSync(fd, buffer, 0, length, offset));
  }

  async *cacheObjects(prefix = ''): AsyncGenerator<CacheObjectInfo> {
    const root = join(this.root, 'cache');
    // The folder holding the prefix's objects: only it is listed.
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const files = await readdir(join(root, folder), { recursive: true }).catch((err: unknown) => {
      if (isNotFound(err)) return [];
      throw err;
    });
    for (const file of files) {
      const name = cacheObjectFrom(folder + file.split(sep).join('/'));
      if (!name?.startsWith(prefix)) continue;
      const info = await stat(join(root, name)).catch(() => null);
      if (info?.isFile()) yield { name, bytes: info.size, modified: info.mtime };
    }
  }

  async removeCacheObject(name: CacheObjectName): Promise<void> {
    const path = this.cachePath(name);
    const fd = this.openPacks.get(path);
    if (fd !== undefined) {
      this.openPacks.delete(path);
      closeSync(fd);
    }
    await rm(path, { force: true });
  }

  private cachePath(name: CacheObjectName): string {
    return join(this.root, ...cacheObjectSegments(name));
  }

  private async prepareFile(runId: string, name: ArtifactName): Promise<string> {
    const path = this.path(runId, name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    return path;
  }
}

/** An input's path; an object of an S3 store is beyond this store's reach. */
function localInput(location: InputLocation): FilePath {
  if (location.startsWith('s3://')) {
    throw new StoreSettingsError(
      `${location}: this process uses the local store; set NIGHTSHIFT_STORE to read s3:// inputs`,
    );
  }
  return location;
}
