import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { expectedUsage, requestProblem, type SupportedEndpoint } from './fake-responses.js';
import type { BatchError } from './store.js';

const MAX_REQUESTS_PER_BATCH = 50_000;
/** Enough to tell the caller what is wrong without letting one batch object grow unbounded. */
const MAX_REPORTED_ERRORS = 100;

export interface InputLine {
  /** 1-based line number in the file. */
  line: number;
  request: { custom_id: string; body: Record<string, unknown> };
}

/** Per-request facts, index = position among the file's non-blank lines. */
export interface ScannedRequests {
  customIds: string[];
  model: string | null;
  /** 200, or the 400 OpenAI would answer the request with on its own. */
  statuses: number[];
  inputTokens: number[];
  outputTokens: number[];
}

/** `requests` is null exactly when the file is invalid, and `errors` then says why. */
export interface ScanResult {
  errors: BatchError[];
  requests: ScannedRequests | null;
}

/** Non-blank lines of the file, parsed; only for files that passed `scanInput`. */
export async function* inputLines(path: string): AsyncGenerator<InputLine> {
  for await (const { line, text } of rawLines(path)) {
    yield { line, request: JSON.parse(text) };
  }
}

export async function* rawLines(path: string): AsyncGenerator<{ line: number; text: string }> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const reader = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  try {
    for await (const text of reader) {
      line++;
      if (text.trim() !== '') yield { line, text };
    }
  } finally {
    reader.close();
    stream.destroy();
  }
}

/**
 * Reads the input file once, line by line, and checks it the way OpenAI does while a batch is
 * `validating`; on success returns what processing needs per request (no bodies are kept).
 */
export async function scanInput(
  path: string,
  endpoint: SupportedEndpoint,
  signal: AbortSignal,
): Promise<ScanResult> {
  const errors: BatchError[] = [];
  const seen = new Set<string>();
  const requests: ScannedRequests = {
    customIds: [],
    model: null,
    statuses: [],
    inputTokens: [],
    outputTokens: [],
  };
  const fail = (code: string, message: string, param: string | null, line: number | null) => {
    if (errors.length < MAX_REPORTED_ERRORS) errors.push({ code, message, param, line });
  };

  let count = 0;
  for await (const { line, text } of rawLines(path)) {
    signal.throwIfAborted();
    if (++count > MAX_REQUESTS_PER_BATCH) {
      return fileError(
        'too_many_lines',
        `The input file contains more than the maximum of ${MAX_REQUESTS_PER_BATCH} requests per batch.`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      fail('invalid_json_line', 'This line is not parseable as valid JSON.', null, line);
      continue;
    }
    const { custom_id: customId, method, url, body } = parsed as Record<string, unknown>;
    const missing = (param: string) =>
      fail('missing_required_parameter', `Missing required parameter: '${param}'.`, param, line);

    if (typeof customId !== 'string' || customId === '') {
      missing('custom_id');
      continue;
    }
    if (seen.has(customId)) {
      fail(
        'duplicate_custom_id',
        `The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique for each request in a batch.`,
        'custom_id',
        line,
      );
      continue;
    }
    seen.add(customId);
    if (method === undefined) missing('method');
    else if (method !== 'POST') {
      fail(
        'invalid_method',
        `The method '${String(method)}' is not supported; use 'POST'.`,
        'method',
        line,
      );
    }
    if (url === undefined) missing('url');
    else if (url !== endpoint) {
      fail(
        'invalid_url',
        `The URL provided for this request does not match the batch endpoint '${endpoint}'.`,
        'url',
        line,
      );
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      missing('body');
      continue;
    }
    const request = body as Record<string, unknown>;
    if (typeof request.model === 'string') {
      requests.model ??= request.model;
      if (request.model !== requests.model) {
        fail(
          'mismatched_model',
          `The provided model '${request.model}' does not match the model '${requests.model}' of the other requests; a batch may only use one model.`,
          'body.model',
          line,
        );
      }
    }
    const usage = expectedUsage(endpoint, request, customId);
    requests.customIds.push(customId);
    requests.statuses.push(requestProblem(endpoint, request) ? 400 : 200);
    requests.inputTokens.push(usage.input_tokens);
    requests.outputTokens.push(usage.output_tokens);
  }

  if (errors.length > 0) return { errors, requests: null };
  if (count === 0) return fileError('empty_file', 'The batch input file is empty.');
  return { errors: [], requests };
}

function fileError(code: string, message: string): ScanResult {
  return { errors: [{ code, message, param: null, line: null }], requests: null };
}
