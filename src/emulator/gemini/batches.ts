import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { startBatch, takeHiddenFilesRead } from '../batches-routes.js';
import type { Handler } from '../context.js';
import type { ErrorBody } from '../errors.js';
import { GEMINI_ENDPOINT } from '../fake-responses.js';
import { readJson, sendJson } from '../http.js';
import { rawLines } from '../input-scan.js';
import { randomId } from '../random.js';
import { type BatchRecord, type BatchStatus, ENDED_STATUSES, type Store } from '../store.js';
import { LineCounter } from '../uploads.js';
import { googleError, statusName } from './dialect.js';
import { facade } from './facade.js';
import { addGeminiFile, FILE_LIFETIME_SECONDS, geminiFile, isGeminiFile, pageOf } from './files.js';

type Json = Record<string, unknown>;

const BATCH_TYPE = 'type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch';
const OUTPUT_TYPE =
  'type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput';

/** Gemini has no validating, finalizing or cancelling state: those read as pending or running. */
const STATES: Record<BatchStatus, string> = {
  validating: 'BATCH_STATE_PENDING',
  in_progress: 'BATCH_STATE_RUNNING',
  finalizing: 'BATCH_STATE_RUNNING',
  cancelling: 'BATCH_STATE_RUNNING',
  completed: 'BATCH_STATE_SUCCEEDED',
  failed: 'BATCH_STATE_FAILED',
  expired: 'BATCH_STATE_EXPIRED',
  cancelled: 'BATCH_STATE_CANCELLED',
};

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * `POST /v1beta/models/{model}:batchGenerateContent` with `inputConfig.fileName`: the file's
 * `{key, request}` lines become the internal batch's OpenAI-shaped lines (`custom_id` = key, the
 * body = the request plus the model), so validation, timing and faults are the shared ones.
 * Inlined requests (`inputConfig.requests`) are not emulated.
 */
export const createBatch: Handler = async (call) => {
  const { state, req, res, id: model } = call;
  const body = await readJson(req);
  const batch = body.batch;
  if (!isObject(batch)) throw googleError(400, "Missing required field 'batch'.");
  const input = isObject(batch.inputConfig) ? batch.inputConfig : {};
  if (input.requests !== undefined) {
    throw googleError(501, 'The emulator takes batch input from a file (inputConfig.fileName).');
  }
  const fileName = input.fileName;
  if (typeof fileName !== 'string' || !fileName.startsWith('files/')) {
    throw googleError(400, "batch.inputConfig.fileName must name an uploaded file ('files/…').");
  }
  const displayName = typeof batch.displayName === 'string' ? batch.displayName : '';
  const file = geminiFile(state.store, fileName.slice('files/'.length));
  const inputPath = state.store.newFilePath();
  await writeLines(
    inputPath,
    mapLines(file.path, (text) => internalLine(text, model)),
  );
  const record = startBatch(call, {
    id: randomId('batch_'),
    api: 'gemini',
    endpoint: GEMINI_ENDPOINT,
    input_file_id: file.id,
    input_path: inputPath,
    metadata: { display_name: displayName, model },
    output_expires_after_seconds: FILE_LIFETIME_SECONDS,
    // Nightshift's display names end in `-a<attempt>-t<try>`, which batch faults can target.
    faults: state.faults.takeBatchFaults(
      'gemini.batches.create',
      /-a(\d+)-t\d+$/.exec(displayName)?.[1],
    ),
  });
  sendJson(res, 200, operation(record, null));
};

/** A line that is not a JSON object is passed on as it is, for validation to refuse. */
function internalLine(text: string, model: string): string {
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    return text;
  }
  if (!isObject(line)) return text;
  const { key, request } = line;
  return JSON.stringify({
    custom_id: key,
    method: 'POST',
    url: GEMINI_ENDPOINT,
    body: isObject(request) ? { ...request, model } : request,
  });
}

export const getBatch: Handler = async ({ state, res, id }) => {
  const batch = geminiBatch(state.store, id);
  const hidden = takeHiddenFilesRead(batch);
  const file = await responsesFile(state.store, batch);
  sendJson(res, 200, operation(batch, hidden ? null : file));
};

export const listBatches: Handler = async ({ state, res, query }) => {
  const { deletedBatches } = facade(state.store);
  const batches = state.store
    .allBatches()
    .filter((b) => b.endpoint === GEMINI_ENDPOINT && !deletedBatches.has(b.id));
  const page = pageOf(batches, query, 50, 1000);
  const operations = await Promise.all(
    page.items.map(async (b) => operation(b, await responsesFile(state.store, b))),
  );
  sendJson(res, 200, { operations, ...(page.next ? { nextPageToken: page.next } : {}) });
};

/** Cancelling twice is not an error; a batch that has ended cannot be cancelled. */
export const cancelBatch: Handler = async ({ state, res, id }) => {
  const batch = geminiBatch(state.store, id);
  if (batch.status === 'validating' || batch.status === 'in_progress') {
    state.processor.cancel(batch);
  } else if (ENDED_STATUSES.has(batch.status)) {
    throw googleError(
      400,
      `Batch batches/${id} has ended (${STATES[batch.status]}).`,
      'FAILED_PRECONDITION',
    );
  }
  sendJson(res, 200, {});
};

/** Deletes the operation, not the work: as for any long-running operation, it runs on. */
export const deleteBatch: Handler = async ({ state, res, id }) => {
  geminiBatch(state.store, id);
  facade(state.store).deletedBatches.add(id);
  sendJson(res, 200, {});
};

function geminiBatch(store: Store, id: string): BatchRecord {
  const batch = store.allBatches().find((b) => b.id === id);
  if (!batch || batch.endpoint !== GEMINI_ENDPOINT || facade(store).deletedBatches.has(id)) {
    throw googleError(404, `Batch batches/${id} not found.`);
  }
  return batch;
}

/** The batch as Gemini's long-running operation, `metadata` a GenerateContentBatch. */
function operation(batch: BatchRecord, responsesFile: string | null) {
  const { total, completed, failed } = batch.progress().request_counts;
  const name = `batches/${batch.id}`;
  const ended = ENDED_STATUSES.has(batch.status);
  const endedAt = batch.completed_at ?? batch.failed_at ?? batch.expired_at ?? batch.cancelled_at;
  const times = [batch.created_at, batch.in_progress_at, batch.cancelling_at, endedAt];
  const output = responsesFile ? { responsesFile: `files/${responsesFile}` } : null;
  return {
    name,
    metadata: {
      '@type': BATCH_TYPE,
      model: `models/${batch.metadata?.model ?? ''}`,
      displayName: batch.metadata?.display_name ?? '',
      inputConfig: { fileName: `files/${batch.input_file_id}` },
      ...(output ? { output } : {}),
      createTime: iso(batch.created_at),
      updateTime: iso(Math.max(...times.map((t) => t ?? 0))),
      ...(endedAt === null ? {} : { endTime: iso(endedAt) }),
      // int64 fields travel as JSON strings in Google's REST APIs.
      batchStats: {
        requestCount: String(total),
        successfulRequestCount: String(completed),
        failedRequestCount: String(failed),
        pendingRequestCount: String(total - completed - failed),
      },
      state: STATES[batch.status],
      name,
    },
    done: ended,
    ...(batch.status === 'failed'
      ? {
          error: {
            code: 3,
            message: (batch.errors ?? [])
              .map((e) => (e.line === null ? e.message : `line ${e.line}: ${e.message}`))
              .join('; '),
          },
        }
      : {}),
    ...(ended && batch.status !== 'failed'
      ? { response: { '@type': OUTPUT_TYPE, ...(output ?? {}) } }
      : {}),
  };
}

/**
 * The batch's responses file, made once from the internal output and error files when a
 * succeeded or cancelled batch is first read. An expired batch has none: Gemini's batch guide
 * says an expired job "will not have any results to retrieve". Requests a cancelled batch never
 * ran have no line.
 */
function responsesFile(store: Store, batch: BatchRecord): Promise<string | null> {
  if (batch.status !== 'completed' && batch.status !== 'cancelled') return Promise.resolve(null);
  const made = facade(store).responses;
  let file = made.get(batch.id);
  if (!file) {
    file = makeResponsesFile(store, batch);
    made.set(batch.id, file);
    file.catch(() => made.delete(batch.id));
  }
  return file;
}

async function makeResponsesFile(store: Store, batch: BatchRecord): Promise<string | null> {
  const filename = `${batch.id}_responses.jsonl`;
  // Made before a restart (the internal files are gone by then).
  const earlier = store.allFiles().find((f) => f.filename === filename && isGeminiFile(f));
  if (earlier) return earlier.id;
  const sources = [batch.output_file_id, batch.error_file_id].flatMap((id) =>
    id === null ? [] : [store.getFile(id)],
  );
  const path = store.newFilePath();
  const counter = await writeLines(
    path,
    (async function* () {
      for (const source of sources) {
        for await (const text of mapLines(source.path, responsesLine)) yield text;
      }
    })(),
  );
  if (counter.lines === 0) {
    await rm(path, { force: true });
    return null;
  }
  const file = addGeminiFile(
    store,
    { path, bytes: counter.bytes, lines: counter.lines },
    filename,
    'application/jsonl',
  );
  for (const source of sources) await store.deleteFile(source.id);
  return file.id;
}

/** An internal output or error line in Gemini's words; a request that never ran has none. */
function responsesLine(text: string): string | null {
  const { custom_id: key, response } = JSON.parse(text) as {
    custom_id: string;
    response: { status_code: number; body: unknown } | null;
  };
  if (!response) return null;
  const code = response.status_code;
  if (code === 200) return JSON.stringify({ key, response: response.body });
  const message = (response.body as ErrorBody | null)?.error?.message ?? `HTTP ${code}`;
  return JSON.stringify({ key, error: { code, message, status: statusName(code) } });
}

async function* mapLines(
  path: string,
  map: (text: string) => string | null,
): AsyncGenerator<string> {
  for await (const { text } of rawLines(path)) {
    const mapped = map(text);
    if (mapped !== null) yield mapped;
  }
}

async function writeLines(path: string, lines: AsyncIterable<string>): Promise<LineCounter> {
  const counter = new LineCounter();
  const out: WriteStream = createWriteStream(path);
  try {
    for await (const line of lines) {
      const chunk = Buffer.from(`${line}\n`);
      counter.add(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    await rm(path, { force: true });
    throw err;
  }
  return counter;
}
