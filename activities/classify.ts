import { availableParallelism } from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import type { JsonlWriter } from '../src/jsonl.js';
import { addUsage, emptyUsage, usageOfBody } from '../src/pricing.js';
import { customIdOf } from '../src/requests.js';
import type {
  ClassifyInput,
  ClassifyResult,
  RequestStatus,
  ResultLine,
  StatusCounts,
} from '../workflows/types.js';
import { type OnProgress, PROGRESS_EVERY_LINES } from './heartbeat.js';

/** One line of a provider output or error file. */
export interface ProviderLine {
  id?: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: unknown } | null;
  error: { code: string; message: string } | null;
}

/** What became of one request in one attempt. */
export interface Verdict {
  /** The status it ends with if it is not (or cannot be) resubmitted. */
  status: RequestStatus;
  /** Whether another attempt could still succeed. */
  retryable: boolean;
  response: ResultLine['response'];
  error: ResultLine['error'];
}

const TRANSIENT_CODES = new Set([
  'server_error',
  'internal_error',
  'rate_limit_exceeded',
  'service_unavailable',
  'timeout',
  'request_timeout',
]);

function isTransientStatus(code: number): boolean {
  return code === 408 || code === 429 || code >= 500;
}

function isTransientCode(code: string): boolean {
  return TRANSIENT_CODES.has(code) || code.includes('timeout') || code.includes('timed_out');
}

/**
 * Decides one request from its provider line (undefined when it is in neither file) and the
 * status its batch ended in.
 */
export function classifyRequest(entry: ProviderLine | undefined, batchStatus: string): Verdict {
  const response = entry?.response
    ? {
        status_code: entry.response.status_code,
        request_id: entry.response.request_id,
        body: entry.response.body,
      }
    : null;
  if (response) {
    const code = response.status_code;
    if (code >= 200 && code < 300) {
      return { status: 'succeeded', retryable: false, response, error: null };
    }
    return {
      status: 'failed',
      retryable: isTransientStatus(code),
      response,
      error: errorOf(response),
    };
  }
  const error = entry?.error ?? null;
  if (error) {
    if (error.code === 'batch_expired')
      return { status: 'expired', retryable: true, response, error };
    if (error.code === 'batch_cancelled') {
      return { status: 'cancelled', retryable: false, response, error };
    }
    return { status: 'failed', retryable: isTransientCode(error.code), response, error };
  }
  switch (batchStatus) {
    case 'cancelled':
      return {
        status: 'cancelled',
        retryable: false,
        response,
        error: { code: 'batch_cancelled', message: 'cancelled before this request ran' },
      };
    case 'expired':
      return {
        status: 'expired',
        retryable: true,
        response,
        error: { code: 'batch_expired', message: 'the batch expired before this request ran' },
      };
    default:
      // A batch that completed yet has no line for a request never ran it: as good as expired,
      // and worth another attempt.
      return {
        status: 'expired',
        retryable: true,
        response,
        error: {
          code: 'missing_result',
          message: `the batch ended ${batchStatus} without a result for this request`,
        },
      };
  }
}

/** The error a non-2xx response carries, or one made from its status code. */
function errorOf(response: NonNullable<ProviderLine['response']>): ResultLine['error'] {
  const body = response.body as { error?: { code?: unknown; type?: unknown; message?: unknown } };
  const error = body?.error;
  const code = [error?.code, error?.type].find((c) => typeof c === 'string' && c !== '');
  return {
    code: (code as string | undefined) ?? `http_${response.status_code}`,
    message: typeof error?.message === 'string' ? error.message : `HTTP ${response.status_code}`,
  };
}

/**
 * Classifies running at once in this process. Each holds its part's provider lines in memory and
 * keeps a core busy, and parts of one run tend to finish together: more at once would only
 * multiply the memory, not the speed.
 */
const MAX_CONCURRENT = availableParallelism();
const WAIT_HEARTBEAT_MS = 10_000;
let running = 0;
const waiting: (() => void)[] = [];

async function acquire(onProgress?: OnProgress): Promise<void> {
  if (running < MAX_CONCURRENT) {
    running += 1;
    return;
  }
  // The heartbeat timeout still applies while queued behind other parts.
  const timer = setInterval(() => onProgress?.(0), WAIT_HEARTBEAT_MS);
  try {
    await new Promise<void>((resolve) => waiting.push(resolve));
  } finally {
    clearInterval(timer);
  }
}

/** Hands the slot straight to the next waiter, if any. */
function release(): void {
  const next = waiting.shift();
  if (next) next();
  else running -= 1;
}

/**
 * Writes one result line per submitted request, in submission order, and (unless this is the
 * last attempt) the request lines worth another attempt. Rerunning gives the same files.
 */
export async function classifyAttempt(
  store: ArtifactStore,
  input: ClassifyInput,
  onProgress?: OnProgress,
): Promise<ClassifyResult> {
  await acquire(onProgress);
  try {
    return await classifyOne(store, input, onProgress);
  } finally {
    release();
  }
}

async function classifyOne(
  store: ArtifactStore,
  input: ClassifyInput,
  onProgress?: OnProgress,
): Promise<ClassifyResult> {
  // Lines kept as text, parsed again when their request comes up: a parsed line takes several
  // times its size in memory, and parts finishing together are classified side by side.
  const provided = new Map<string, string>();
  // A request is in at most one file; should it be in both, the output (a success) wins.
  for (const name of [input.outputPath, input.errorPath]) {
    if (name) await loadProviderLines(store, input.runId, name, provided);
  }
  // Cancellation is the user's will: nothing of a cancelled batch is resubmitted.
  const final = input.lastAttempt || input.batchStatus === 'cancelled';
  const counts: StatusCounts = { succeeded: 0, failed: 0, expired: 0, cancelled: 0 };
  const usage = emptyUsage();
  const resultsPath = artifactNames.attemptResults(input.part, input.attempt);
  const retryName = artifactNames.part(input.part, input.attempt + 1);
  const results = await store.writer(input.runId, resultsPath);
  let retry: JsonlWriter | null = null;

  try {
    for await (const line of store.readLines(input.runId, input.inputPath)) {
      const custom_id = customIdOf(line.text);
      const text = provided.get(custom_id);
      const entry = text === undefined ? undefined : (JSON.parse(text) as ProviderLine);
      const verdict = classifyRequest(entry, input.batchStatus);
      const result: ResultLine = {
        custom_id,
        status: verdict.status,
        response: verdict.response,
        error: verdict.error,
        attempts: input.attempt,
        batch_id: input.batchId || null,
      };
      await results.write(JSON.stringify(result));
      if (verdict.retryable && !final) {
        retry ??= await store.writer(input.runId, retryName);
        await retry.write(line.text);
      } else {
        counts[verdict.status] += 1;
        if (verdict.status === 'succeeded') addUsage(usage, usageOfBody(verdict.response?.body));
      }
      if (line.lineNo % PROGRESS_EVERY_LINES === 0) onProgress?.(line.lineNo);
    }
  } catch (err) {
    await Promise.all([results.abort(), retry?.abort()]);
    throw err;
  }

  const retried = retry ? (await retry.commit()).lines : 0;
  await results.commit();
  return {
    resultsPath,
    counts,
    retry: retried,
    retryPath: retried > 0 ? retryName : null,
    usage,
  };
}

async function loadProviderLines(
  store: ArtifactStore,
  runId: string,
  name: string,
  into: Map<string, string>,
): Promise<void> {
  for await (const line of store.readLines(runId, name)) {
    if (line.text.trim() === '') continue;
    let entry: ProviderLine;
    try {
      entry = JSON.parse(line.text) as ProviderLine;
    } catch (err) {
      throw invalidProviderLine(name, line.lineNo, `invalid JSON: ${(err as Error).message}`);
    }
    if (typeof entry?.custom_id !== 'string') {
      throw invalidProviderLine(name, line.lineNo, 'no custom_id');
    }
    if (!into.has(entry.custom_id)) into.set(entry.custom_id, line.text);
  }
}

/** A download that passed its checks yet does not parse will not parse on a retry either. */
function invalidProviderLine(name: string, lineNo: number, problem: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${name}:${lineNo}: ${problem}`, 'InvalidProviderOutput');
}
