import { appendFile, rm } from 'node:fs/promises';
import type { Call, Handler } from '../context.js';
import { readJson, sendJson } from '../http.js';
import { randomId } from '../random.js';
import type { FileRecord, Store } from '../store.js';
import { LineCounter } from '../uploads.js';
import { googleError } from './dialect.js';
import { facade } from './facade.js';

/** Gemini keeps uploaded and generated files for 48 hours. */
export const FILE_LIFETIME_SECONDS = 48 * 3600;

/**
 * Gemini files are store files whose purpose is `gemini:<mimeType>` (so the MIME type outlives a
 * restart), named `files/<store id>`.
 */
const PURPOSE = 'gemini:';

export const isGeminiFile = (file: FileRecord): boolean => file.purpose.startsWith(PURPOSE);

export function addGeminiFile(
  store: Store,
  file: { path: string; bytes: number; lines: number },
  displayName: string,
  mimeType: string,
): FileRecord {
  return store.addFile(
    { ...file, filename: displayName, purpose: `${PURPOSE}${mimeType}` },
    FILE_LIFETIME_SECONDS,
  );
}

/** A Gemini file by the id in its name (`files/<id>`); other files are not Gemini's to show. */
export function geminiFile(store: Store, id: string): FileRecord {
  const file = store.allFiles().find((f) => f.id === id);
  if (!file || !isGeminiFile(file)) throw googleError(404, `File files/${id} not found.`);
  return store.getFile(id);
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

function fileObject(file: FileRecord, host: string | undefined) {
  const name = `files/${file.id}`;
  return {
    name,
    displayName: file.filename,
    mimeType: file.purpose.slice(PURPOSE.length),
    sizeBytes: String(file.bytes),
    createTime: iso(file.created_at),
    updateTime: iso(file.created_at),
    ...(file.expires_at === null ? {} : { expirationTime: iso(file.expires_at) }),
    uri: `http://${host ?? 'localhost'}/v1beta/${name}`,
    state: 'ACTIVE',
    source: file.filename.endsWith('_responses.jsonl') ? 'GENERATED' : 'UPLOADED',
  };
}

/**
 * `POST /upload/v1beta/files`, Google's resumable upload as the SDK drives it: a `start` call
 * with the file's metadata answers the session URL (`x-goog-upload-url`); `upload` calls then
 * send the bytes at `x-goog-upload-offset`, the last one with `upload, finalize`, answered with
 * `{file}` and `x-goog-upload-status: final`.
 */
export const uploadFile: Handler = async (call) => {
  const uploadId = call.query.get('upload_id');
  if (uploadId === null) return startUpload(call);
  return receiveChunk(call, uploadId);
};

async function startUpload({ state, req, res }: Call): Promise<void> {
  if (req.headers['x-goog-upload-protocol'] !== 'resumable') {
    throw googleError(400, 'Only the resumable upload protocol is emulated.');
  }
  if (req.headers['x-goog-upload-command'] !== 'start') {
    throw googleError(400, "A resumable upload starts with 'X-Goog-Upload-Command: start'.");
  }
  const body = await readJson(req);
  const meta = (body.file ?? {}) as { displayName?: unknown; mimeType?: unknown };
  const mimeType = meta.mimeType ?? req.headers['x-goog-upload-header-content-type'];
  if (typeof mimeType !== 'string' || mimeType === '') {
    throw googleError(400, 'The file has no MIME type.');
  }
  const id = randomId('upload-', 12);
  facade(state.store).uploads.set(id, {
    path: state.store.newFilePath(),
    displayName: typeof meta.displayName === 'string' ? meta.displayName : '',
    mimeType,
    counter: new LineCounter(),
  });
  sendJson(
    res,
    200,
    {},
    {
      'x-goog-upload-url': `http://${req.headers.host}/upload/v1beta/files?upload_id=${id}&upload_protocol=resumable`,
      'x-goog-upload-status': 'active',
    },
  );
}

async function receiveChunk(call: Call, uploadId: string): Promise<void> {
  const { state, req, res, maxFileBytes } = call;
  const sessions = facade(state.store).uploads;
  const session = sessions.get(uploadId);
  if (!session) throw googleError(404, `No upload session ${uploadId}.`);
  const command = String(req.headers['x-goog-upload-command'] ?? '');
  const offset = Number(req.headers['x-goog-upload-offset']);
  const chunk = await readBody(req, maxFileBytes + 1 - session.counter.bytes);
  if (offset !== session.counter.bytes) {
    throw googleError(400, `Expected offset ${session.counter.bytes}, got ${offset}.`);
  }
  session.counter.add(chunk);
  await appendFile(session.path, chunk);
  if (session.counter.bytes > maxFileBytes) {
    sessions.delete(uploadId);
    await rm(session.path, { force: true });
    throw googleError(413, `File is too large; the limit is ${maxFileBytes} bytes.`);
  }
  if (!command.split(',').some((c) => c.trim() === 'finalize')) {
    sendJson(res, 200, {}, { 'x-goog-upload-status': 'active' });
    return;
  }
  sessions.delete(uploadId);
  const { bytes, lines } = session.counter;
  const file = addGeminiFile(
    state.store,
    { path: session.path, bytes, lines },
    session.displayName,
    session.mimeType,
  );
  sendJson(
    res,
    200,
    { file: fileObject(file, req.headers.host) },
    { 'x-goog-upload-status': 'final' },
  );
}

async function readBody(req: Call['req'], limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // One byte past the limit is enough to tell "too large" while memory stays bounded.
    if (size > limit) throw googleError(413, 'File is too large.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export const getFile: Handler = async ({ state, req, res, id }) => {
  sendJson(res, 200, fileObject(geminiFile(state.store, id), req.headers.host));
};

export const deleteFile: Handler = async ({ state, res, id }) => {
  geminiFile(state.store, id);
  await state.store.deleteFile(id);
  sendJson(res, 200, {});
};

export const listFiles: Handler = async ({ state, req, res, query }) => {
  const live = state.store
    .allFiles()
    .filter((f) => isGeminiFile(f) && !f.deleted)
    .filter((f) => f.expires_at === null || f.expires_at > Date.now() / 1000);
  const page = pageOf(live, query, 10, 100);
  sendJson(res, 200, {
    files: page.items.map((f) => fileObject(f, req.headers.host)),
    ...(page.next ? { nextPageToken: page.next } : {}),
  });
};

/**
 * Google's `pageSize` / `pageToken` paging, newest first; the token is where the page before
 * ended (`<seq>.<id>`), which stays valid when items are deleted between pages.
 */
export function pageOf<T extends { id: string; seq: number }>(
  items: T[],
  query: URLSearchParams,
  fallback: number,
  max: number,
): { items: T[]; next: string | null } {
  const raw = query.get('pageSize');
  const size = raw === null || Number(raw) <= 0 ? fallback : Math.min(max, Math.floor(Number(raw)));
  if (!Number.isFinite(size)) throw googleError(400, `Invalid pageSize '${raw}'.`);
  const sorted = items.sort((a, b) => b.seq - a.seq);
  const token = query.get('pageToken');
  let rest = sorted;
  if (token) {
    const seq = Number(token.split('.')[0]);
    if (!Number.isInteger(seq)) throw googleError(400, `Invalid pageToken '${token}'.`);
    rest = sorted.filter((item) => item.seq < seq);
  }
  const pageItems = rest.slice(0, size);
  const last = pageItems.at(-1);
  return { items: pageItems, next: rest.length > size && last ? `${last.seq}.${last.id}` : null };
}
