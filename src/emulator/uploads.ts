import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { ApiError, badRequest, invalidValue, missingParameter } from './errors.js';
import { expirySeconds } from './http.js';
import type { FileRecord, Store } from './store.js';

const PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
const NEWLINE = 0x0a;

interface Received {
  path: string;
  filename: string;
  bytes: number;
  lines: number;
}

/**
 * Handles `POST /v1/files`: streams the multipart file part to disk (never whole in memory),
 * counting bytes and lines on the way, then checks the fields as OpenAI does (batch input being
 * `batchPurpose`, Together's differing from OpenAI's).
 */
export async function receiveUpload(
  req: IncomingMessage,
  store: Store,
  maxBytes: number,
  batchPurpose: string,
): Promise<FileRecord> {
  const fields = new Map<string, string>();
  let received: Promise<Received> | undefined;
  const parser = multipartParser(req, maxBytes);
  parser.on('field', (name, value) => fields.set(name, value));
  parser.on('file', (name, stream, info) => {
    if (name !== 'file' || received) {
      stream.resume();
      return;
    }
    received = saveStream(stream, store.newFilePath(), info.filename || 'file');
    // Handled when awaited below; this only keeps an early disk error from being "unhandled".
    received.catch(() => undefined);
  });
  try {
    await pipeline(req, parser);
  } catch (err) {
    await discard(received);
    throw err instanceof ApiError ? err : badRequest('The multipart body could not be parsed.');
  }
  if (!received) throw missingParameter('file');
  const file = await received;
  try {
    if (file.bytes > maxBytes) {
      throw badRequest(
        `File is too large. The maximum size for this upload is ${maxBytes} bytes.`,
        'file',
        'file_too_large',
      );
    }
    const purpose = fields.get('purpose');
    if (purpose === undefined) throw missingParameter('purpose');
    const purposes = [...new Set([...PURPOSES, batchPurpose])];
    if (!purposes.includes(purpose)) {
      throw invalidValue('purpose', `'${purpose}'. Supported values are: ${purposes.join(', ')}.`);
    }
    if (purpose === batchPurpose && !file.filename.endsWith('.jsonl')) {
      throw badRequest(
        'Invalid file format for Batch API. Must be .jsonl',
        'file',
        'invalid_file_format',
      );
    }
    const anchor = fields.get('expires_after[anchor]');
    const seconds = fields.get('expires_after[seconds]');
    const lifetime =
      anchor === undefined && seconds === undefined
        ? null
        : expirySeconds('expires_after', anchor, Number(seconds));
    return store.addFile({ ...file, purpose }, lifetime);
  } catch (err) {
    await rm(file.path, { force: true });
    throw err;
  }
}

function multipartParser(req: IncomingMessage, maxBytes: number) {
  try {
    // Busboy stops passing data on one byte past the limit: enough to tell "too large", and
    // the partial file on disk stays bounded.
    return busboy({ headers: req.headers, limits: { fileSize: maxBytes + 1, files: 1 } });
  } catch {
    throw badRequest('The request must be multipart/form-data with a boundary.');
  }
}

/** Bytes and lines of a file seen chunk by chunk; a last line without a newline counts too. */
export class LineCounter {
  bytes = 0;
  private newlines = 0;
  private endsWithNewline = true;

  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) {
      this.newlines++;
    }
    if (chunk.length > 0) this.endsWithNewline = chunk[chunk.length - 1] === NEWLINE;
  }

  get lines(): number {
    return this.newlines + (this.endsWithNewline ? 0 : 1);
  }
}

async function saveStream(
  source: NodeJS.ReadableStream,
  path: string,
  filename: string,
): Promise<Received> {
  const count = new LineCounter();
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      count.add(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(source, counter, createWriteStream(path));
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return { path, filename, bytes: count.bytes, lines: count.lines };
}

async function discard(received: Promise<Received> | undefined): Promise<void> {
  const file = await received?.catch(() => undefined);
  if (file) await rm(file.path, { force: true });
}
