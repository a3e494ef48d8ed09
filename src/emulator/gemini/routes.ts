// Gemini Batch Mode (Gemini Developer API, v1beta) as the official `@google/genai` SDK speaks
// it, over the shared store and BatchProcessor. References followed:
// - https://ai.google.dev/gemini-api/docs/batch-mode (input lines `{key, request}`, responses
//   lines `{key, response | error}`, job states, the 48-hour expiry with no results to retrieve)
// - https://ai.google.dev/api/batch-mode (`models.batchGenerateContent`, `batches.get|list|
//   cancel|delete`, GenerateContentBatch, BatchStats)
// - https://ai.google.dev/api/files (File, resumable upload, `files.get|list|delete`)
// - node_modules/@google/genai 2.32 (`batchJobFromMldev`, `tJobState`, `uploadBlob`,
//   `downloadFile`): the REST shapes the SDK parses.

import type { Route } from '../context.js';
import { fileContent } from '../files-routes.js';
import { cancelBatch, createBatch, deleteBatch, getBatch, listBatches } from './batches.js';
import { GEMINI } from './dialect.js';
import { deleteFile, getFile, listFiles, uploadFile } from './files.js';

const ID = '([^/:]+)';

export const GEMINI_ROUTES: Route[] = [
  {
    method: 'POST',
    path: /^\/upload\/v1beta\/files$/,
    name: 'gemini.files.upload',
    handler: uploadFile,
  },
  { method: 'GET', path: /^\/v1beta\/files$/, name: 'gemini.files.list', handler: listFiles },
  {
    method: 'GET',
    path: new RegExp(`^/v1beta/files/${ID}$`),
    name: 'gemini.files.get',
    handler: getFile,
  },
  {
    method: 'DELETE',
    path: new RegExp(`^/v1beta/files/${ID}$`),
    name: 'gemini.files.delete',
    handler: deleteFile,
  },
  {
    // The SDK asks `/v1beta/files/{id}:download`; the API documents `/download/v1beta/…`.
    method: 'GET',
    path: new RegExp(`^(?:/download)?/v1beta/files/${ID}:download$`),
    name: 'gemini.files.download',
    handler: fileContent,
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1beta/models/${ID}:batchGenerateContent$`),
    name: 'gemini.batches.create',
    handler: createBatch,
  },
  { method: 'GET', path: /^\/v1beta\/batches$/, name: 'gemini.batches.list', handler: listBatches },
  {
    method: 'GET',
    path: new RegExp(`^/v1beta/batches/${ID}$`),
    name: 'gemini.batches.get',
    handler: getBatch,
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1beta/batches/${ID}:cancel$`),
    name: 'gemini.batches.cancel',
    handler: cancelBatch,
  },
  {
    method: 'DELETE',
    path: new RegExp(`^/v1beta/batches/${ID}$`),
    name: 'gemini.batches.delete',
    handler: deleteBatch,
  },
].map((route) => ({ ...route, dialect: GEMINI }) as Route);
