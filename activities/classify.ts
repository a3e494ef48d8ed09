import { Buffer } from 'node:buffer';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import { CachePacker } from '../src/cache.js';
import type { JsonlWriter } from '../src/jsonl.js';
import { type JsonSchema, OutputValidator, requestSchemaOf } from '../src/output-schema.js';
import { outputTextOf } from '../src/output-text.js';
import { PositionSpill } from '../src/position-spill.js';
import { addUsage, emptyUsage, usageOfBody } from '../src/pricing.js';
import { PROVIDER_RULES } from '../src/providers/rules.js';
import { customIdOf } from '../src/requests.js';
import {
  type BatchStatus,
  failures,
  type RequestStatus,
  zeroCounts,
} from '../workflows/contract.js';
import { DEFAULT_PROVIDER } from '../workflows/provider-names.js';
import type { ClassifyInput, ClassifyResult, ResultLine, Usage } from '../workflows/types.js';
import { type OnProgress, PROGRESS_EVERY_LINES, whileHeartbeating } from './heartbeat.js';
import { Limiter } from './limiter.js';
import { resultHead } from './result-head.js';

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
  /** A success's parsed output, when it had a schema and matched it. */
  output?: unknown;
}

/**
 * Checks a success's output against its schema (none: the verdict stands). An output that is not
 * JSON or does not match is as good as a transient failure: the model may well get it right on
 * another attempt.
 */
function checkOutput(
  verdict: Verdict,
  schema: JsonSchema | undefined,
  validator: OutputValidator,
): Verdict {
  if (verdict.status !== 'succeeded' || schema === undefined) return verdict;
  const check = validator.check(outputTextOf(verdict.response?.body), schema);
  if (check.ok) return { ...verdict, output: check.value };
  return {
    ...verdict,
    status: 'invalid_output',
    retryable: !check.final,
    error: { code: 'invalid_output', message: check.message },
  };
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
export function classifyRequest(
  entry: ProviderLine | undefined,
  batchStatus: BatchStatus,
): Verdict {
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
 * Classifies running at once in this process. Each keeps a core busy, and the parts of a run
 * tend to finish together: more at once would finish none of them sooner.
 */
const classifies = new Limiter(availableParallelism());

/**
 * Writes one result line per submitted request, in submission order, and (unless this is the
 * last attempt) the request lines worth another attempt. Rerunning gives the same files.
 */
export async function classifyAttempt(
  store: ArtifactStore,
  input: ClassifyInput,
  onProgress?: OnProgress,
): Promise<ClassifyResult> {
  // The heartbeat timeout still applies while waiting for a turn.
  return whileHeartbeating(() => classifies.run(() => classifyOne(store, input, onProgress)));
}

/** What a classify of an attempt found, kept for a retry of it: its downloads are removed. */
interface Classified {
  lastAttempt: boolean;
  result: ClassifyResult;
}

/**
 * Classifies an attempt once: its result is kept beside its results, and its downloads are
 * removed (nothing else reads them; a run's disk would hold every part's until the merge). A
 * retry answers with what was kept; a second classify of the attempt as its last (the budget
 * refused the resubmission) makes the leftovers final from the results written.
 */
async function classifyOne(
  store: ArtifactStore,
  input: ClassifyInput,
  onProgress?: OnProgress,
): Promise<ClassifyResult> {
  const memo = artifactNames.classified(input.part, input.attempt);
  const done = await store.readJson<Classified>(input.runId, memo);
  if (done) {
    await removeDownloads(store, input);
    return input.lastAttempt && !done.lastAttempt
      ? await asFinal(store, input, done.result)
      : done.result;
  }
  const result = await classifyFromDownloads(store, input, onProgress);
  await store.writeJson(input.runId, memo, {
    lastAttempt: input.lastAttempt,
    result,
  } satisfies Classified);
  await removeDownloads(store, input);
  return result;
}

async function removeDownloads(store: ArtifactStore, input: ClassifyInput): Promise<void> {
  await Promise.all(
    [input.output, input.errors].map((name) => name && store.remove(input.runId, name)),
  );
}

/** An attempt's result with nothing resubmitted: every request ends with the status it has. */
async function asFinal(
  store: ArtifactStore,
  input: ClassifyInput,
  result: ClassifyResult,
): Promise<ClassifyResult> {
  const counts = zeroCounts();
  for await (const line of store.readLines(input.runId, result.results)) {
    counts[resultHead(line.text).status] += 1;
  }
  return { ...result, counts, retry: 0, retryRequests: null };
}

async function classifyFromDownloads(
  store: ArtifactStore,
  input: ClassifyInput,
  onProgress?: OnProgress,
): Promise<ClassifyResult> {
  const { positions, schemas } = await positionsOf(store, input);
  // The provider answers in any order; its verdicts are spilled to disk by submission position
  // and read back in order, so a part's worth of responses is never held in memory. The spill
  // is this worker's own: a temp folder, removed with the spill.
  const scratch = await mkdtemp(join(tmpdir(), 'nightshift-classify-'));
  let spill: PositionSpill | null = null;
  try {
    spill = await PositionSpill.create(join(scratch, 'spill'), positions.size);
    const { answered, usage, invalidOutputs } = await spillVerdicts(
      store,
      input,
      { positions, schemas },
      spill,
      onProgress,
    );
    return {
      ...(await writeInOrder(store, input, spill, answered, onProgress)),
      usage,
      ...(invalidOutputs === undefined ? {} : { invalidOutputs }),
    };
  } finally {
    await spill?.remove();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The submitted requests: each custom_id's position, and the schema each output must match. */
interface Submitted {
  positions: Map<string, number>;
  /** The schema of a position (undefined: its output is not checked). */
  schemas: (position: number) => JsonSchema | undefined;
}

/**
 * Each submitted custom_id's position in the attempt's input, and the schemas: a request's own
 * (what the model was asked for) where the lines are OpenAI's, else the run's.
 */
async function positionsOf(store: ArtifactStore, input: ClassifyInput): Promise<Submitted> {
  const runSchema = input.outputSchema
    ? ((await store.readJson<JsonSchema>(input.runId, input.outputSchema)) ?? undefined)
    : undefined;
  if (input.outputSchema && runSchema === undefined) {
    throw failures.ArtifactMissing(`${input.outputSchema} of run ${input.runId} is gone`);
  }
  // Translated lines (Anthropic's, Gemini's) no longer say it in OpenAI's words.
  const ownSchemas = !PROVIDER_RULES[input.provider ?? DEFAULT_PROVIDER].translate;
  const positions = new Map<string, number>();
  // Few distinct schemas per run: each position keeps an index into them, not a copy.
  const distinct = new Map<string, number>();
  const schemaIndex = new Map<number, number>();
  for await (const line of store.readLines(input.runId, input.requests)) {
    const position = positions.size;
    // A copy: a slice of the line would keep the whole request line alive as long as the map.
    positions.set(Buffer.from(customIdOf(line.text)).toString(), position);
    // Only a line that may ask for a format (`response_format`, `format`) is worth parsing.
    if (!ownSchemas || !line.text.includes('format"')) continue;
    const own = requestSchemaOf((JSON.parse(line.text) as { body?: unknown }).body);
    if (own === undefined) continue;
    const key = JSON.stringify(own);
    if (!distinct.has(key)) distinct.set(key, distinct.size);
    schemaIndex.set(position, distinct.get(key) as number);
  }
  const own = [...distinct.keys()].map((key) => JSON.parse(key) as JsonSchema);
  return {
    positions,
    schemas: (position) => {
      const index = schemaIndex.get(position);
      return index === undefined ? runSchema : own[index];
    },
  };
}

/**
 * What the provider said about one position (and what the check of its output found): its
 * status and whether it is worth retrying.
 */
interface Answer {
  status: RequestStatus;
  retryable: boolean;
}

/**
 * Classifies every provider line (the output file first: should a request be in both, its
 * success wins) and spills its result line by position. Returns the answer per position, the
 * usage of the responses (billed, and never resubmitted but for an invalid output, which the
 * provider bills all the same), and how many outputs failed their schema (undefined: none had
 * one).
 */
async function spillVerdicts(
  store: ArtifactStore,
  input: ClassifyInput,
  { positions, schemas }: Submitted,
  spill: PositionSpill,
  onProgress?: OnProgress,
): Promise<{ answered: (Answer | undefined)[]; usage: Usage; invalidOutputs?: number }> {
  const answered: (Answer | undefined)[] = new Array(positions.size);
  const usage = emptyUsage();
  const validator = new OutputValidator();
  let invalidOutputs: number | undefined;
  for (const name of [input.output, input.errors]) {
    if (!name) continue;
    for await (const line of store.readLines(input.runId, name)) {
      if (line.text.trim() === '') continue;
      const entry = parseProviderLine(name, line.lineNo, line.text);
      const position = positions.get(entry.custom_id);
      if (position === undefined || answered[position]) continue;
      const schema = schemas(position);
      const verdict = checkOutput(classifyRequest(entry, input.batchStatus), schema, validator);
      answered[position] = { status: verdict.status, retryable: verdict.retryable };
      if (schema !== undefined) {
        invalidOutputs = (invalidOutputs ?? 0) + Number(verdict.status === 'invalid_output');
      }
      if (verdict.status === 'succeeded' || verdict.status === 'invalid_output') {
        addUsage(usage, usageOfBody(verdict.response?.body));
      }
      await spill.put(position, JSON.stringify(resultLine(input, entry.custom_id, verdict)));
      if (line.lineNo % PROGRESS_EVERY_LINES === 0) onProgress?.(line.lineNo);
    }
  }
  return { answered, usage, ...(invalidOutputs === undefined ? {} : { invalidOutputs }) };
}

/**
 * Writes one result line per submitted request in submission order and, unless this attempt is
 * final, the request lines worth another attempt.
 */
async function writeInOrder(
  store: ArtifactStore,
  input: ClassifyInput,
  spill: PositionSpill,
  answered: (Answer | undefined)[],
  onProgress?: OnProgress,
): Promise<Omit<ClassifyResult, 'usage'>> {
  // Cancellation is the user's will: nothing of a cancelled batch is resubmitted, unless the
  // part cancelled it for the deadline, to send what it left synchronously.
  const final = input.lastAttempt || (input.batchStatus === 'cancelled' && !input.hedge);
  const unanswered = classifyRequest(undefined, input.batchStatus);
  const counts = zeroCounts();
  const resultsName = artifactNames.attemptResults(input.part, input.attempt);
  const retryName = artifactNames.part(input.part, input.attempt + 1);
  const results = await store.writer(input.runId, resultsName);
  let retry: JsonlWriter | null = null;
  const cache = input.cache
    ? await CachePacker.open(
        store,
        input.provider ?? DEFAULT_PROVIDER,
        input.runId,
        `${input.runId}.part-${input.part}.attempt-${input.attempt}`,
      )
    : null;

  try {
    const spilled = spill.inOrder();
    for await (const line of store.readLines(input.runId, input.requests)) {
      const position = line.lineNo - 1;
      const text = (await spilled.next()).value;
      const answer = answered[position] ?? unanswered;
      await results.write(
        text ?? JSON.stringify(resultLine(input, customIdOf(line.text), unanswered)),
      );
      if (cache && text && answer.status === 'succeeded') await cache.add(line.text, text);
      const retryable = answer.retryable || (input.hedge && answer.status === 'cancelled');
      if (retryable && !final) {
        retry ??= await store.writer(input.runId, retryName);
        await retry.write(line.text);
      } else {
        counts[answer.status] += 1;
      }
      if (line.lineNo % PROGRESS_EVERY_LINES === 0) onProgress?.(line.lineNo);
    }
    await cache?.commit();
  } catch (err) {
    await Promise.all([results.abort(), retry?.abort(), cache?.abort()]);
    throw err;
  }

  const retried = retry ? (await retry.commit()).lines : 0;
  await results.commit();
  return {
    results: resultsName,
    counts,
    retry: retried,
    retryRequests: retried > 0 ? retryName : null,
  };
}

function resultLine(input: ClassifyInput, custom_id: string, verdict: Verdict): ResultLine {
  // An invalid output keeps its text: what the model said is what the error is about.
  const text =
    verdict.status === 'succeeded' || verdict.status === 'invalid_output'
      ? outputTextOf(verdict.response?.body)
      : null;
  return {
    custom_id,
    status: verdict.status,
    response: verdict.response,
    ...(text === null ? {} : { output_text: text }),
    ...('output' in verdict ? { output: verdict.output } : {}),
    error: verdict.error,
    attempts: input.attempt,
    batch_id: input.batchId || null,
    ...(input.via ? { via: input.via } : {}),
  };
}

function parseProviderLine(name: string, lineNo: number, text: string): ProviderLine {
  let entry: ProviderLine;
  try {
    entry = JSON.parse(text) as ProviderLine;
  } catch (err) {
    throw invalidProviderLine(name, lineNo, `invalid JSON: ${(err as Error).message}`);
  }
  if (typeof entry?.custom_id !== 'string') throw invalidProviderLine(name, lineNo, 'no custom_id');
  return entry;
}

/** A download that passed its checks yet does not parse will not parse on a retry either. */
function invalidProviderLine(name: string, lineNo: number, problem: string) {
  return failures.InvalidProviderOutput(`${name}:${lineNo}: ${problem}`);
}
