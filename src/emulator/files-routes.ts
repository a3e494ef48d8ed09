import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Handler } from './context.js';
import { invalidValue } from './errors.js';
import { intParam, sendJson } from './http.js';
import type { FileRecord } from './store.js';
import { receiveUpload } from './uploads.js';

function fileObject(file: FileRecord) {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: file.created_at,
    expires_at: file.expires_at,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
    status_details: null,
  };
}

export const createFile: Handler = async ({ state, req, res, maxFileBytes, batchPurpose }) => {
  const file = await receiveUpload(req, state.store, maxFileBytes, batchPurpose);
  sendJson(res, 200, fileObject(file));
};

export const retrieveFile: Handler = async ({ state, res, id }) => {
  sendJson(res, 200, fileObject(state.store.getFile(id)));
};

export const deleteFile: Handler = async ({ state, res, id }) => {
  const file = await state.store.deleteFile(id);
  sendJson(res, 200, { id: file.id, object: 'file', deleted: true });
};

export const listFiles: Handler = async ({ state, res, query }) => {
  const order = query.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc')
    throw invalidValue('order', `'${order}'; expected 'asc' or 'desc'.`);
  const page = state.store.listFiles({
    purpose: query.get('purpose') ?? undefined,
    order,
    after: query.get('after') ?? undefined,
    limit: intParam(query, 'limit', 10_000, 1, 10_000),
  });
  sendJson(res, 200, {
    object: 'list',
    data: page.data.map(fileObject),
    first_id: page.data[0]?.id ?? null,
    last_id: page.data.at(-1)?.id ?? null,
    has_more: page.has_more,
  });
};

/**
 * Streams the file from disk. Under a `truncate` fault the headers still announce the full
 * length but the connection ends part-way, so the client sees a premature close.
 */
export const fileContent: Handler = async (call) => {
  const { state, res, id, fault } = call;
  const file = state.store.getFile(id);
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': file.bytes,
    'content-disposition': `attachment; filename="${file.filename}"`,
  });
  if (fault?.kind === 'truncate') call.outcome = 'truncated';
  call.count();
  if (fault?.kind !== 'truncate') {
    await pipeline(createReadStream(file.path), res);
    return;
  }
  const sent = Math.floor(file.bytes * (fault.fraction ?? 0.5));
  res.flushHeaders();
  if (sent > 0) await pipeline(createReadStream(file.path, { end: sent - 1 }), res, { end: false });
  res.socket?.destroySoon();
};
