import { stat } from 'node:fs/promises';
import type { BatchEndpoint } from '../workflows/types.js';
import { FingerprintSet } from './fingerprint-set.js';
import { type BadJsonlLine, type ByteSource, type JsonlLine, scanJsonlLines } from './jsonl.js';
import type { LineTranslator } from './providers/translation.js';

/** Whether the endpoint's request bodies must name a model (moderations has a default). */
const MODEL_REQUIRED: Record<BatchEndpoint, boolean> = {
  '/v1/chat/completions': true,
  '/v1/responses': true,
  '/v1/embeddings': true,
  '/v1/completions': true,
  '/v1/moderations': false,
};

const BATCH_ENDPOINTS = Object.keys(MODEL_REQUIRED) as BatchEndpoint[];

/** The Batch API's limit on one input file; a single longer line can never be submitted. */
const MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024;

export function isBatchEndpoint(value: unknown): value is BatchEndpoint {
  return typeof value === 'string' && Object.hasOwn(MODEL_REQUIRED, value);
}

/** What the checks across lines need from one valid request line. */
export interface RequestLine {
  custom_id: string;
  url: BatchEndpoint;
  /** null when the body names none (allowed only where a model is not required). */
  model: string | null;
  /** What is asked (a native line's `params` or `request`), for the cost estimate. */
  body: Record<string, unknown> | null;
}

export type LineCheck = { ok: true; request: RequestLine } | { ok: false; message: string };

/** A valid line as the provider takes it: OpenAI's line itself, or the translator's. */
export interface CheckedLine extends RequestLine {
  /** The provider's own line when a translator made one (what prepare writes instead). */
  native: unknown;
}

/**
 * Checks one line for a provider that takes its own lines: an OpenAI batch line is checked as
 * such, then translated; any other object is taken as the provider's native line, which the
 * translator checks. Native lines name no OpenAI endpoint: they count as chat completions.
 */
export function checkTranslatedLine(
  text: string,
  translate: LineTranslator,
): { ok: true; request: CheckedLine } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return checkRequestLine(text) as { ok: false; message: string };
  }
  const openaiShaped = isObject(value) && ('url' in value || 'body' in value || 'method' in value);
  let url: BatchEndpoint = '/v1/chat/completions';
  if (openaiShaped || !isObject(value)) {
    const checked = checkRequestLine(text);
    if (!checked.ok) return checked;
    url = checked.request.url;
  }
  const line = value as Record<string, unknown>;
  const translated = translate(line);
  if (!translated.ok) return translated;
  const body = openaiShaped ? line.body : (line.params ?? line.request);
  return {
    ok: true,
    request: {
      custom_id: translated.customId,
      url,
      model: translated.model,
      body: isObject(body) ? body : null,
      native: translated.line,
    },
  };
}

/** Checks one request line on its own; the first problem found is reported. */
export function checkRequestLine(text: string): LineCheck {
  // A blank line is rejected rather than skipped: results.jsonl answers every input line by
  // position and custom_id, and a blank one has neither. A newline ending the file is not a line.
  if (text.trim() === '') return fail('blank line (every line must be a request)');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) return fail(`expected a JSON object, got ${kindOf(value)}`);
  const { custom_id, method, url, body } = value;
  if (custom_id === undefined) return fail('missing "custom_id"');
  if (typeof custom_id !== 'string') {
    return fail(`"custom_id" must be a string, got ${kindOf(custom_id)}`);
  }
  if (custom_id === '') return fail('"custom_id" is empty');
  if (method !== 'POST') return fail(`"method" must be "POST", got ${show(method)}`);
  if (!isBatchEndpoint(url)) {
    return fail(`"url" must be one of ${BATCH_ENDPOINTS.join(', ')}; got ${show(url)}`);
  }
  if (!isObject(body)) return fail(`"body" must be a JSON object, got ${kindOf(body)}`);
  const { model } = body;
  if (model === undefined && MODEL_REQUIRED[url])
    return fail(`"body.model" is required for ${url}`);
  if (model !== undefined && typeof model !== 'string') {
    return fail(`"body.model" must be a string, got ${kindOf(model)}`);
  }
  return { ok: true, request: { custom_id, url, model: model ?? null, body } };
}

export interface ValidationError {
  /** 1-based; 0 for a problem of the whole file. */
  line: number;
  message: string;
}

export interface ValidationReport {
  ok: boolean;
  /** The first `maxErrors` problems, in line order. */
  errors: ValidationError[];
  /** All problems, including those past `maxErrors`. */
  errorCount: number;
  /** Lines read, valid or not. */
  total: number;
  endpoint: BatchEndpoint | null;
  model: string | null;
  bytes: number;
}

export interface ValidatorOptions {
  /** The run's endpoint; when absent the first valid line's url decides. */
  endpoint?: BatchEndpoint;
  /** The provider's translator (`PROVIDER_RULES`): lines are checked and turned into its own. */
  translate?: LineTranslator | null;
  maxErrors?: number;
}

/** A value seen first on some line, that every later line must repeat. */
interface Pinned<T> {
  value: T;
  line: number;
}

/**
 * Checks a file's lines in order, including what must hold across lines: one endpoint, one
 * model, unique custom_ids. Fed line by line so that a caller can validate while it copies.
 */
export class RequestsValidator {
  private readonly errors: ValidationError[] = [];
  private errorCount = 0;
  private total = 0;
  private readonly maxErrors: number;
  private readonly runEndpoint: BatchEndpoint | undefined;
  private endpoint: Pinned<BatchEndpoint> | null = null;
  private model: Pinned<string | null> | null = null;
  private readonly ids = new FingerprintSet();
  private readonly translate: LineTranslator | null;

  constructor(options: ValidatorOptions = {}) {
    this.maxErrors = options.maxErrors ?? 20;
    this.translate = options.translate ?? null;
    this.runEndpoint = options.endpoint;
    if (options.endpoint) this.endpoint = { value: options.endpoint, line: 0 };
  }

  get ok(): boolean {
    return this.errorCount === 0;
  }

  /** Returns the request when the line is valid, else records why not. */
  check(line: JsonlLine | BadJsonlLine): CheckedLine | null {
    this.total += 1;
    if (line.text === null) return this.reject(line.lineNo, line.problem);
    const result = this.translate
      ? checkTranslatedLine(line.text, this.translate)
      : checkRequestLine(line.text);
    if (!result.ok) return this.reject(line.lineNo, result.message);
    const { request } = result;

    this.endpoint ??= { value: request.url, line: line.lineNo };
    if (request.url !== this.endpoint.value) {
      const expected = this.runEndpoint
        ? `the run's endpoint is "${this.runEndpoint}"`
        : `line ${this.endpoint.line} uses "${this.endpoint.value}"`;
      return this.reject(line.lineNo, `"url" is "${request.url}" but ${expected}`);
    }
    this.model ??= { value: request.model, line: line.lineNo };
    if (request.model !== this.model.value) {
      return this.reject(
        line.lineNo,
        `"body.model" ${request.model === null ? 'is not set' : `is ${show(request.model)}`} ` +
          `but line ${this.model.line} ` +
          `${this.model.value === null ? 'sets none' : `uses ${show(this.model.value)}`} ` +
          '(a batch takes one model)',
      );
    }
    if (!this.ids.add(request.custom_id)) {
      return this.reject(line.lineNo, `duplicate custom_id ${show(request.custom_id)}`);
    }
    return { native: null, ...request };
  }

  /** The outcome, once every line was checked; `bytes` is the file's size. */
  report(bytes: number): ValidationReport {
    if (this.total === 0) this.reject(0, 'no requests');
    return {
      ok: this.ok,
      errors: [...this.errors],
      errorCount: this.errorCount,
      total: this.total,
      endpoint: this.endpoint?.value ?? null,
      model: this.model?.value ?? null,
      bytes,
    };
  }

  private reject(line: number, message: string): null {
    this.errorCount += 1;
    if (this.errors.length < this.maxErrors) this.errors.push({ line, message });
    return null;
  }
}

export interface ValidateFileOptions extends ValidatorOptions {
  /** Longest acceptable line, newline included. */
  maxLineBytes?: number;
  /** Called with every valid request, in order: the cost estimate rides the same pass. */
  onRequest?: (request: CheckedLine) => void;
}

/** A file's validation, and the modification time of the version it read. */
export interface FileValidation extends ValidationReport {
  mtimeMs: number;
}

/** Streams a requests file and reports every bad line (up to `maxErrors`). */
export async function validateRequestsFile(
  path: string,
  options: ValidateFileOptions = {},
): Promise<FileValidation> {
  // Taken before reading: a change made while the file is read shows as a later time.
  const { mtimeMs } = await stat(path);
  return { ...(await validateRequests(path, options)), mtimeMs };
}

/** Streams requests (a file, or an object's bytes) and reports every bad line. */
export async function validateRequests(
  source: ByteSource,
  options: ValidateFileOptions = {},
): Promise<ValidationReport> {
  const validator = new RequestsValidator(options);
  let bytes = 0;
  const maxLineBytes = options.maxLineBytes ?? MAX_BATCH_FILE_BYTES;
  for await (const line of scanJsonlLines(source, { maxLineBytes })) {
    bytes += line.bytes;
    const request = validator.check(line);
    if (request && options.onRequest) options.onRequest(request);
  }
  return validator.report(bytes);
}

/** `file:line: problem`, the way compilers point at a spot. */
export function formatValidationError(file: string, error: ValidationError): string {
  return error.line > 0 ? `${file}:${error.line}: ${error.message}` : `${file}: ${error.message}`;
}

/** The first problem, and how many more there are. */
export function summarizeValidation(file: string, report: ValidationReport): string {
  const [first] = report.errors;
  if (!first) return `${file}: valid`;
  const more = report.errorCount - 1;
  return formatValidationError(file, first) + (more > 0 ? ` (+${more} more)` : '');
}

function fail(message: string): LineCheck {
  return { ok: false, message };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A value quoted the way it appears in JSON, cut short if long. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

/** How a request or result line written by JSON.stringify starts. */
export const ID_PREFIX = '{"custom_id":"';

/**
 * The custom_id of a line known to be valid JSON, without parsing a large body when the line
 * starts with it as written by the SDKs and JSON.stringify. Anything unusual (an escape in the id,
 * another "custom_id" key anywhere, since JSON.parse keeps the last duplicate) takes JSON.parse.
 * Gemini's lines name their request `key`.
 */
export function customIdOf(text: string): string {
  if (text.startsWith(ID_PREFIX)) {
    const end = text.indexOf('"', ID_PREFIX.length);
    if (end !== -1) {
      const id = text.slice(ID_PREFIX.length, end);
      if (!id.includes('\\') && text.indexOf('"custom_id"', end) === -1) return id;
    }
  }
  const line = JSON.parse(text) as { custom_id?: string; key?: string };
  return (line.custom_id ?? line.key) as string;
}
