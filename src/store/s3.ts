import { once } from 'node:events';
import { createReadStream, createWriteStream, openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { state as sdkNodeWarning } from '@aws-sdk/core/client';
import { Upload } from '@aws-sdk/lib-storage';
import type { ArtifactName, FilePath, InputLocation } from '../../workflows/types.js';
import {
  type ArtifactStore,
  artifactNames,
  artifactSegments,
  type CacheObjectInfo,
  type CacheObjectName,
  cacheObjectFrom,
  cacheObjectSegments,
  type InputVersion,
  InvalidArtifactPathError,
  isNotFound,
  isValidRunId,
  notFound,
  StoreSettingsError,
} from '../artifacts.js';
import {
  type ByteSink,
  type JsonlLine,
  JsonlWriter,
  type ReadJsonlOptions,
  readJsonlLines,
  type WriteStats,
  writeLines,
  writeStream,
} from '../jsonl.js';

/** An object's address: `s3://bucket/key`. */
interface ObjectRef {
  bucket: string;
  key: string;
}

/**
 * Parts of a multipart upload: S3's smallest but the last. With two in flight, a writer holds
 * at most ~16 MB whatever the size of the object.
 */
const PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

/** Metadata an uploaded input carries: the version of the client's file it is a copy of. */
const SOURCE_BYTES = 'nightshift-source-bytes';
const SOURCE_MTIME = 'nightshift-source-mtime-ms';

/** `s3://bucket/prefix` → the bucket and the prefix (no trailing slash, may be empty). */
export function parseS3Url(url: string): ObjectRef {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match?.[1]) throw new StoreSettingsError(`not an s3://bucket/prefix URL: ${url}`);
  return { bucket: match[1], key: (match[2] ?? '').replace(/\/+$/, '') };
}

/**
 * The client's settings beyond what the AWS SDK reads from the environment itself (credentials
 * chain, `AWS_REGION`): an S3-compatible server at a custom endpoint is addressed by path
 * (`http://host/bucket/key`), as most have no wildcard DNS for buckets.
 */
export function s3ClientConfig(endpoint: string | null): S3ClientConfig {
  return endpoint ? { endpoint, forcePathStyle: true } : {};
}

/**
 * Artifacts as objects `<prefix>/runs/<runId>/<name>` of an S3 bucket, so that workers and
 * clients share nothing but the bucket. An object appears whole when its PUT or multipart upload
 * completes, so readers never see a partial one; a writer that aborts leaves nothing, and a
 * retried activity overwrites its own object. Bytes stream both ways: nothing holds an artifact.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly location: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;

  constructor(url: string, config: S3ClientConfig) {
    const { bucket, key } = parseS3Url(url);
    this.bucket = bucket;
    this.prefix = key;
    this.location = `s3://${bucket}${key ? `/${key}` : ''}`;
    // On Node < 22 the SDK warns, in 9 lines on every command, that releases after January 2027
    // will need Node 22: the release pinned here runs on Node 20, which Nightshift supports.
    sdkNodeWarning.warningEmitted = true;
    this.client = new S3Client(config);
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw await this.settingsError(err);
    }
  }

  async exists(runId: string, name: ArtifactName): Promise<boolean> {
    return (await this.head(this.ref(runId, name))) !== null;
  }

  async size(runId: string, name: ArtifactName): Promise<number> {
    const ref = this.ref(runId, name);
    const head = await this.head(ref);
    if (!head) throw notFound(urlOf(ref));
    return head.ContentLength ?? 0;
  }

  async writeAtomic(
    runId: string,
    name: ArtifactName,
    lines: AsyncIterable<string> | Iterable<string>,
  ): Promise<WriteStats> {
    return writeLines(await this.writer(runId, name), lines);
  }

  async writeStream(
    runId: string,
    name: ArtifactName,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<WriteStats> {
    return writeStream(await this.writer(runId, name), chunks);
  }

  async writer(runId: string, name: ArtifactName): Promise<JsonlWriter> {
    return new JsonlWriter(new UploadSink(this.client, this.ref(runId, name)));
  }

  async writeJson(runId: string, name: ArtifactName, value: unknown): Promise<void> {
    const { bucket, key } = this.ref(runId, name);
    await this.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        // Pretty-printed, as the local store writes them: people read them.
        Body: `${JSON.stringify(value, null, 2)}\n`,
        ContentType: 'application/json',
      }),
    );
  }

  async readJson<T>(runId: string, name: ArtifactName): Promise<T | null> {
    const text = await this.text(this.ref(runId, name));
    return text === null ? null : (JSON.parse(text) as T);
  }

  readLines(
    runId: string,
    name: ArtifactName,
    options?: ReadJsonlOptions,
  ): AsyncIterable<JsonlLine> {
    return readJsonlLines(this.chunks(this.ref(runId, name)), options);
  }

  read(runId: string, name: ArtifactName): Readable {
    return Readable.from(this.chunks(this.ref(runId, name)));
  }

  /** The object goes through a file of the worker's own temp dir: a Blob cannot stream S3. */
  async withBlob<T>(
    runId: string,
    name: ArtifactName,
    use: (blob: Blob) => Promise<T>,
  ): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'nightshift-upload-'));
    try {
      const file = join(dir, 'artifact');
      await pipeline(this.chunks(this.ref(runId, name)), createWriteStream(file, { mode: 0o600 }));
      return await use(await openAsBlob(file));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async remove(runId: string, name: ArtifactName): Promise<void> {
    const { bucket, key } = this.ref(runId, name);
    // The object itself, and every object "under" it as a folder.
    await this.deleteKeys([key]);
    await this.removeUnder(bucket, `${key}/`);
  }

  async *runs(): AsyncGenerator<string> {
    const runs = `${this.keyOf('runs')}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: runs,
          Delimiter: '/',
          ContinuationToken: token,
        }),
      );
      for (const { Prefix } of page.CommonPrefixes ?? []) {
        const runId = Prefix?.slice(runs.length, -1);
        if (runId && isValidRunId(runId) && (await this.holdsAny(Prefix as string))) yield runId;
      }
      token = page.NextContinuationToken;
    } while (token);
  }

  async removeRun(runId: string): Promise<void> {
    if (!isValidRunId(runId)) throw new InvalidArtifactPathError(`invalid run id: ${runId}`);
    await this.removeUnder(this.bucket, `${this.keyOf('runs', runId)}/`);
  }

  /** Uploads the file once per run: a retried submit finds the copy of the same version. */
  async putInput(runId: string, file: FilePath, version: InputVersion): Promise<InputLocation> {
    const ref = this.ref(runId, artifactNames.input);
    const stored = await this.inputVersion(urlOf(ref));
    if (stored?.bytes !== version.bytes || stored.mtimeMs !== version.mtimeMs) {
      await new Upload({
        client: this.client,
        params: {
          Bucket: ref.bucket,
          Key: ref.key,
          Body: createReadStream(file),
          Metadata: {
            [SOURCE_BYTES]: String(version.bytes),
            [SOURCE_MTIME]: String(version.mtimeMs),
          },
        },
        partSize: PART_BYTES,
        queueSize: PARTS_IN_FLIGHT,
      }).done();
    }
    return urlOf(ref);
  }

  /** An uploaded copy has the version of the client's file; any other object, its own. */
  async inputVersion(location: InputLocation): Promise<InputVersion | null> {
    const head = await this.head(inputRef(location));
    if (!head) return null;
    const sourceMtime = Number(head.Metadata?.[SOURCE_MTIME]);
    return {
      bytes: head.ContentLength ?? 0,
      mtimeMs: Number.isFinite(sourceMtime) ? sourceMtime : (head.LastModified?.getTime() ?? 0),
    };
  }

  readInput(location: InputLocation): AsyncIterable<Uint8Array> {
    return this.chunks(inputRef(location));
  }

  async cacheWriter(name: CacheObjectName): Promise<JsonlWriter> {
    return new JsonlWriter(new UploadSink(this.client, this.cacheRef(name)));
  }

  async *readCacheLines(name: CacheObjectName): AsyncGenerator<JsonlLine> {
    try {
      yield* readJsonlLines(this.chunks(this.cacheRef(name)));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  readCacheRange(name: CacheObjectName, offset: number, length: number): Promise<string | null> {
    return this.text(this.cacheRef(name), `bytes=${offset}-${offset + length - 1}`);
  }

  async *cacheObjects(prefix = ''): AsyncGenerator<CacheObjectInfo> {
    const root = `${this.keyOf('cache')}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: root + prefix,
          ContinuationToken: token,
        }),
      );
      for (const { Key, Size, LastModified } of page.Contents ?? []) {
        const name = Key && cacheObjectFrom(Key.slice(root.length));
        if (name) yield { name, bytes: Size ?? 0, modified: LastModified ?? new Date(0) };
      }
      token = page.NextContinuationToken;
    } while (token);
  }

  async removeCacheObject(name: CacheObjectName): Promise<void> {
    await this.deleteKeys([this.cacheRef(name).key]);
  }

  private cacheRef(name: CacheObjectName): ObjectRef {
    return { bucket: this.bucket, key: this.keyOf(...cacheObjectSegments(name)) };
  }

  /** An object's text (or the bytes `range` names, `bytes=a-b`), or null when there is none. */
  private async text(ref: ObjectRef, range?: string): Promise<string | null> {
    try {
      const { Body } = await this.client.send(
        new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, Range: range }),
      );
      return (await Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  private ref(runId: string, name: ArtifactName): ObjectRef {
    return { bucket: this.bucket, key: this.keyOf(...artifactSegments(runId, name)) };
  }

  /** The key of `segments` under the store's prefix. */
  private keyOf(...segments: string[]): string {
    return [...(this.prefix ? [this.prefix] : []), ...segments].join('/');
  }

  /**
   * Whether any object's key starts with `prefix`: some servers (SeaweedFS) keep listing a
   * folder whose objects were all deleted.
   */
  private async holdsAny(prefix: string): Promise<boolean> {
    const page = await this.client.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 1 }),
    );
    return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
  }

  /** Deletes every object whose key starts with `prefix`, a page of the listing at a time. */
  private async removeUnder(bucket: string, prefix: string): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      await this.deleteKeys(
        (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])),
        bucket,
      );
      token = page.NextContinuationToken;
    } while (token);
  }

  /** At most 1,000 keys, as DeleteObjects takes and a page of a listing holds. */
  private async deleteKeys(keys: string[], bucket = this.bucket): Promise<void> {
    if (keys.length === 0) return;
    await this.client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
    );
  }

  private async head(ref: ObjectRef) {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  private async *chunks(ref: ObjectRef): AsyncGenerator<Uint8Array> {
    let body: AsyncIterable<Uint8Array>;
    try {
      const { Body } = await this.client.send(
        new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }),
      );
      body = Body as AsyncIterable<Uint8Array>;
    } catch (err) {
      if (isMissing(err)) throw notFound(urlOf(ref));
      throw err;
    }
    yield* body;
  }

  /** One line naming the setting to fix. */
  private async settingsError(err: unknown): Promise<StoreSettingsError> {
    const endpoint = await this.endpoint();
    const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
    const { name, message, code } = err as Error & { code?: string };
    if (status === 404 || name === 'NoSuchBucket' || name === 'NotFound') {
      return new StoreSettingsError(
        `NIGHTSHIFT_STORE: no bucket "${this.bucket}" at ${endpoint} (create it, or fix the URL)`,
      );
    }
    if (status === 403 || status === 401) {
      return new StoreSettingsError(
        `AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: ${endpoint} refused them for bucket "${this.bucket}"`,
      );
    }
    if (name === 'CredentialsProviderError') {
      return new StoreSettingsError(
        `AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: no credentials found for ${this.location} (${message})`,
      );
    }
    if (/region/i.test(message) && !status) {
      return new StoreSettingsError(`AWS_REGION: ${message}`);
    }
    return new StoreSettingsError(
      `AWS_ENDPOINT_URL_S3: cannot reach ${endpoint} for ${this.location} (${code ?? name}: ${message})`,
    );
  }

  private async endpoint(): Promise<string> {
    const endpoint = await this.client.config.endpoint?.().catch(() => undefined);
    return endpoint
      ? `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port ?? ''}`
      : 'AWS S3';
  }
}

/**
 * Bytes written to an S3 multipart upload as they come; `commit` completes it, `abort` aborts it
 * (S3 then drops the parts). Small objects go up in one PUT.
 */
class UploadSink implements ByteSink {
  private readonly body = new PassThrough({ highWaterMark: 1024 * 1024 });
  private readonly upload: Upload;
  private readonly done: Promise<unknown>;

  constructor(client: S3Client, ref: ObjectRef) {
    this.upload = new Upload({
      client,
      params: { Bucket: ref.bucket, Key: ref.key, Body: this.body },
      partSize: PART_BYTES,
      queueSize: PARTS_IN_FLIGHT,
    });
    this.done = this.upload.done();
    // A failed upload stops reading: the error reaches a writer waiting for room.
    this.body.on('error', () => {});
    this.done.catch((err: unknown) => this.body.destroy(err as Error));
  }

  async write(bytes: Uint8Array): Promise<void> {
    // Copied: the writer reuses its buffer as soon as this resolves.
    if (!this.body.write(Buffer.from(bytes))) await once(this.body, 'drain');
  }

  async commit(): Promise<void> {
    this.body.end();
    await this.done;
  }

  async abort(): Promise<void> {
    await this.upload.abort().catch(() => {});
    this.body.destroy();
    await this.done.catch(() => {});
  }
}

function urlOf({ bucket, key }: ObjectRef): string {
  return `s3://${bucket}/${key}`;
}

function inputRef(location: InputLocation): ObjectRef {
  if (!location.startsWith('s3://')) {
    throw new StoreSettingsError(
      `${location}: a file on the client's disk, which this worker cannot read (its store is S3)`,
    );
  }
  return parseS3Url(location);
}

function isMissing(err: unknown): boolean {
  if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return true;
  const { name } = err as Error;
  return name === 'NoSuchKey' || name === 'NotFound';
}
