import { Buffer, isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** One line of a JSONL file, without its line terminator. */
export interface JsonlLine {
  text: string;
  /** 1-based. */
  lineNo: number;
  /** Bytes the line takes in the file, terminator (and a leading BOM) included. */
  bytes: number;
}

/** A line that could not be decoded; the scan goes on past it. */
export interface BadJsonlLine {
  text: null;
  lineNo: number;
  bytes: number;
  problem: string;
}

export interface ReadJsonlOptions {
  /** Longer lines are reported instead of buffered, so one huge line cannot exhaust memory. */
  maxLineBytes?: number;
  /** Read size; larger chunks mean fewer reads and fewer lines straddling two chunks. */
  chunkBytes?: number;
}

export class JsonlError extends Error {
  constructor(
    readonly lineNo: number,
    readonly problem: string,
  ) {
    super(`line ${lineNo}: ${problem}`);
    this.name = 'JsonlError';
  }
}

const LF = 0x0a;
const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Streams the lines of a file, reporting undecodable or oversized lines instead of throwing.
 *
 * Hand-rolled rather than `readline`: splitting Buffers on 0x0A is safe for UTF-8 (no
 * multi-byte sequence contains that byte), gives exact byte counts and catches invalid UTF-8
 * that readline would silently replace. Measured (Node 20) over 200,000 chat requests: ASCII
 * text 130-190 ms against readline's 265-330 ms; accented text 240-360 ms against 380-460 ms,
 * where decoding dominates both.
 */
export function scanJsonlLines(
  source: ByteSource,
  options: ReadJsonlOptions = {},
): AsyncIterableIterator<JsonlLine | BadJsonlLine> {
  return flatten(scanChunks(source, options), (line) => line);
}

/** Streams the lines of a file; throws a JsonlError at the first undecodable or oversized line. */
export function readJsonlLines(
  source: ByteSource,
  options: ReadJsonlOptions = {},
): AsyncIterableIterator<JsonlLine> {
  return flatten(scanChunks(source, options), (line) => {
    if (line.text === null) throw new JsonlError(line.lineNo, line.problem);
    return line;
  });
}

/** A file's path, or bytes as they come (an object read from a store). */
export type ByteSource = string | AsyncIterable<Uint8Array>;

/**
 * A file's chunks, read into one buffer, reused: each chunk is valid until the next is asked
 * for. A fresh buffer per read would churn through the input's size in native memory, which the
 * allocator keeps long after the buffers are collected.
 */
export async function* readFileChunks(
  path: string,
  chunkBytes = 1 << 20,
): AsyncGenerator<Uint8Array> {
  const chunk = Buffer.allocUnsafe(chunkBytes);
  const file = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) return;
      yield chunk.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}

/**
 * The lines one chunk completed, each decoded only when it is asked for: a chunk's worth of line
 * strings made at once would outlive the young generation while the consumer works through them,
 * and be promoted to old space as garbage (measured: ~40 MB per classify of 50,000 lines).
 */
interface LineBatch {
  readonly length: number;
  /** The `i`-th line; asked for in order, each once, before the next batch. */
  at(i: number): JsonlLine | BadJsonlLine;
}

/**
 * Yields the lines completed by each chunk, so the per-line cost is an array step. A line is
 * decoded before the next chunk is asked for, and only the unfinished tail of a chunk is copied.
 */
async function* scanChunks(
  source: ByteSource,
  options: ReadJsonlOptions,
): AsyncGenerator<LineBatch> {
  const maxLineBytes = options.maxLineBytes ?? Number.POSITIVE_INFINITY;
  const chunks = typeof source === 'string' ? readFileChunks(source, options.chunkBytes) : source;
  let lineNo = 0;
  // Bytes of the current line seen in earlier chunks; dropped once the line is known too long.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let oversized = false;

  const finishLine = (tail: Buffer): JsonlLine | BadJsonlLine => {
    lineNo += 1;
    const bytes = pendingBytes + tail.length;
    const tooLong = oversized || bytes > maxLineBytes;
    let line = tooLong || pending.length === 0 ? tail : Buffer.concat([...pending, tail], bytes);
    pending = [];
    pendingBytes = 0;
    oversized = false;
    if (tooLong) {
      return { text: null, lineNo, bytes, problem: `line is longer than ${maxLineBytes} bytes` };
    }
    let end = line.length;
    if (end > 0 && line[end - 1] === LF) end -= 1;
    if (end > 0 && line[end - 1] === CR) end -= 1;
    const start = lineNo === 1 && line.subarray(0, 3).equals(BOM) ? 3 : 0;
    line = line.subarray(start, Math.max(start, end));
    if (!isUtf8(line)) return { text: null, lineNo, bytes, problem: 'invalid UTF-8' };
    return { text: line.toString('utf8'), lineNo, bytes };
  };

  for await (const chunk of chunks) {
    const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // Where each completed line ends (just past its LF); numbers, not strings.
    const ends: number[] = [];
    for (let nl = data.indexOf(LF); nl !== -1; nl = data.indexOf(LF, nl + 1)) ends.push(nl + 1);
    if (ends.length > 0) {
      yield {
        length: ends.length,
        at: (i) => finishLine(data.subarray(i === 0 ? 0 : (ends[i - 1] as number), ends[i])),
      };
    }
    const from = ends.at(-1) ?? 0;
    if (from < data.length) {
      pendingBytes += data.length - from;
      oversized ||= pendingBytes > maxLineBytes;
      // Copied: the next read overwrites the chunk.
      pending = oversized ? [] : [...pending, Buffer.from(data.subarray(from))];
    }
  }
  if (pendingBytes > 0) yield { length: 1, at: () => finishLine(Buffer.alloc(0)) };
}

/**
 * Iterates the lines of batches, each passed through `map`. Lines are handed out with
 * `Promise.resolve`, not through an async generator: that halves the per-line overhead.
 */
function flatten<U>(
  batches: AsyncGenerator<LineBatch>,
  map: (line: JsonlLine | BadJsonlLine) => U,
): AsyncIterableIterator<U> {
  let batch: LineBatch | null = null;
  let next = 0;
  const iterator: AsyncIterableIterator<U> = {
    [Symbol.asyncIterator]: () => iterator,
    next: async () => {
      while (batch === null || next >= batch.length) {
        const result = await batches.next();
        if (result.done) return { done: true, value: undefined };
        batch = result.value;
        next = 0;
      }
      return { done: false, value: map(batch.at(next++)) };
    },
    return: async () => {
      await batches.return(undefined);
      return { done: true, value: undefined };
    },
  };
  return iterator;
}

export interface WriteStats {
  bytes: number;
  /** Newline-terminated lines, plus a final unterminated one. */
  lines: number;
  endsWithNewline: boolean;
}

/**
 * Lines are encoded into one buffer of this size per writer, written out whenever it is full; each
 * awaited write is the back-pressure. One buffer, reused, rather than one per line or chunk: the
 * native allocator keeps what a stream of short-lived buffers churned through.
 */
const BUFFER_BYTES = 256 * 1024;

/**
 * Where a writer's bytes go, in order: made visible whole on commit, or dropped on abort. A sink
 * must not keep the bytes it is given once `write` resolves: the writer reuses its buffer.
 */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** A private name beside `path` (same file system, so a rename over `path` is atomic). */
export function tempPathNextTo(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
}

/**
 * A file that appears complete or not at all: data goes to a private temp file next to the
 * target, which is fsynced (when durable) and renamed over it on commit.
 */
class AtomicFileSink implements ByteSink {
  private closed = false;

  private constructor(
    private readonly path: string,
    private readonly tempPath: string,
    private readonly file: FileHandle,
    private readonly durable: boolean,
  ) {}

  static async open(path: string, durable: boolean): Promise<AtomicFileSink> {
    const tempPath = tempPathNextTo(path);
    return new AtomicFileSink(path, tempPath, await open(tempPath, 'wx', 0o600), durable);
  }

  async write(bytes: Uint8Array): Promise<void> {
    await this.file.write(bytes);
  }

  async commit(): Promise<void> {
    if (this.durable) await this.file.sync();
    await this.file.close();
    this.closed = true;
    await rename(this.tempPath, this.path);
    if (this.durable) await syncDir(dirname(this.path));
  }

  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.file.close().catch(() => {});
    }
    await unlink(this.tempPath).catch(() => {});
  }
}

/** Writes JSONL to a sink (a file, an object of a store) that shows it whole or not at all. */
export class JsonlWriter {
  private buffer: Buffer | null = null;
  private used = 0;
  private bytes = 0;
  private newlines = 0;
  private lastByte = -1;

  constructor(private readonly sink: ByteSink) {}

  /**
   * A writer of the file at `path`, atomically; durably too (synced to disk before it is
   * renamed into place) unless `durable` is false.
   */
  static async open(path: string, { durable = true } = {}): Promise<JsonlWriter> {
    return new JsonlWriter(await AtomicFileSink.open(path, durable));
  }

  /** What the committed file will hold, as written so far. */
  get stats(): WriteStats {
    const endsWithNewline = this.lastByte === LF;
    return {
      bytes: this.bytes,
      lines: this.newlines + (this.bytes > 0 && !endsWithNewline ? 1 : 0),
      endsWithNewline,
    };
  }

  /** Appends one line; `line` must not contain a newline. */
  async write(line: string): Promise<void> {
    // A UTF-16 code unit takes at most 3 bytes of UTF-8: room for that always fits the line.
    const room = line.length * 3 + 1;
    if (room > BUFFER_BYTES) {
      await this.writeRaw(Buffer.from(`${line}\n`));
      return;
    }
    const buffer = await this.room(room);
    const bytes = buffer.write(line, this.used) + 1;
    buffer[this.used + bytes - 1] = LF;
    this.used += bytes;
    this.account(bytes, 1, LF);
  }

  /** Appends bytes as they are (a download, say); lines are counted, not checked. */
  async writeRaw(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    this.account(chunk.length, countNewlines(chunk), chunk[chunk.length - 1] ?? -1);
    if (chunk.length > BUFFER_BYTES) {
      await this.flush();
      await this.sink.write(chunk);
      return;
    }
    const buffer = await this.room(chunk.length);
    buffer.set(chunk, this.used);
    this.used += chunk.length;
  }

  async commit(): Promise<WriteStats> {
    try {
      await this.flush();
      await this.sink.commit();
    } catch (err) {
      await this.abort();
      throw err;
    }
    return this.stats;
  }

  /** Drops what was written; the target is left as it was. */
  abort(): Promise<void> {
    return this.sink.abort();
  }

  private account(bytes: number, newlines: number, lastByte: number): void {
    this.bytes += bytes;
    this.newlines += newlines;
    this.lastByte = lastByte;
  }

  /** The buffer, flushed first if it has less than `bytes` free. */
  private async room(bytes: number): Promise<Buffer> {
    if (this.used + bytes > BUFFER_BYTES) await this.flush();
    this.buffer ??= Buffer.allocUnsafe(BUFFER_BYTES);
    return this.buffer;
  }

  private async flush(): Promise<void> {
    if (!this.buffer || this.used === 0) return;
    await this.sink.write(this.buffer.subarray(0, this.used));
    this.used = 0;
  }
}

function countNewlines(chunk: Uint8Array): number {
  let n = 0;
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) n += 1;
  return n;
}

/** A file's path, written atomically, or a writer already open on some sink. */
export type WriteTarget = string | JsonlWriter;

/** Writes every string of `lines` as one line of `target`, and commits it. */
export function writeLines(
  target: WriteTarget,
  lines: AsyncIterable<string> | Iterable<string>,
): Promise<WriteStats> {
  return fillAndCommit(target, async (writer) => {
    for await (const line of lines) await writer.write(line);
  });
}

/** Copies a byte stream to `target`, and commits it. */
export function writeStream(
  target: WriteTarget,
  chunks: AsyncIterable<Uint8Array>,
): Promise<WriteStats> {
  return fillAndCommit(target, async (writer) => {
    for await (const chunk of chunks) await writer.writeRaw(chunk);
  });
}

async function fillAndCommit(
  target: WriteTarget,
  fill: (writer: JsonlWriter) => Promise<void>,
): Promise<WriteStats> {
  const writer = typeof target === 'string' ? await JsonlWriter.open(target) : target;
  try {
    await fill(writer);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.commit();
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
