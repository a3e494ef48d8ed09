import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import type { CachedLine } from '../src/cache.js';
import type { JsonlLine } from '../src/jsonl.js';
import { addUsage, emptyUsage, usageOfBody } from '../src/pricing.js';
import { customIdOf } from '../src/requests.js';
import { failures, type RequestStatus, zeroCounts } from '../workflows/contract.js';
import type { MergeInput, MergeResult, PartRef, ResultLine } from '../workflows/types.js';
import { type OnProgress, PROGRESS_EVERY_LINES } from './heartbeat.js';
import { resultHead } from './result-head.js';

/**
 * Writes results.jsonl: one line per input line, in input order, reading every file once from
 * start to end and holding none of them.
 *
 * Parts are contiguous slices of the input, and each attempt's results follow its input's order:
 * attempt 1 has a line for every line of the part; attempt k+1 has one for each request attempt k
 * resubmitted, in the same order. So a request's last word is in the latest attempt whose next
 * unread line is about it, and walking attempt 1 with one cursor per later attempt finds it. Lines the
 * result cache answered are in no part: they go in at their line numbers.
 */
export async function mergeResults(
  store: ArtifactStore,
  input: MergeInput,
  onProgress?: OnProgress,
): Promise<MergeResult> {
  const counts = { total: 0, ...zeroCounts() };
  const usage = emptyUsage();
  const writer = await store.writer(input.runId, artifactNames.results);
  const cache = input.cached ? { hits: 0, usage: emptyUsage() } : undefined;
  const cached = input.cached
    ? store.readLines(input.runId, input.cached)[Symbol.asyncIterator]()
    : null;
  let nextCached = await nextCachedLine(cached);
  /** Writes the cached lines due at the next input line (`all`: every one left). */
  const writeCached = async (all: boolean) => {
    while (cache && nextCached && (all || nextCached.line <= counts.total + 1)) {
      await writer.write(JSON.stringify(nextCached.result));
      counts.total += 1;
      counts.succeeded += 1;
      cache.hits += 1;
      addUsage(cache.usage, usageOfBody(nextCached.result.response?.body));
      nextCached = await nextCachedLine(cached);
    }
  };
  try {
    for (const { part, results, usage: partUsage } of input.parts) {
      addUsage(usage, partUsage);
      const attempts = results.map((name) => new ResultCursor(store.readLines(input.runId, name)));
      try {
        for await (const { custom_id, first } of spineOf(store, input.runId, part, attempts)) {
          await writeCached(false);
          let last: Pick<Result, 'text' | 'status'> | null = first;
          for (const attempt of attempts.slice(1)) {
            if ((await attempt.peek())?.custom_id !== custom_id) break;
            last = attempt.take();
          }
          last ??= neverFinished(custom_id, results.length, input.unfinishedStatus ?? 'expired');
          await writer.write(last.text);
          counts.total += 1;
          counts[last.status] += 1;
          if (counts.total % PROGRESS_EVERY_LINES === 0) onProgress?.(counts.total);
        }
      } finally {
        await Promise.all(attempts.map((attempt) => attempt.close()));
      }
    }
    await writeCached(true);
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    await cached?.return?.();
  }
  await writer.commit();
  return { results: artifactNames.results, counts, usage, ...(cache ? { cache } : {}) };
}

/**
 * A part's requests in order, each with its first attempt's result: that attempt answered every
 * line of the part, so its results are read instead of the part. A part never attempted (the run
 * stopped first) is read for its ids.
 */
async function* spineOf(
  store: ArtifactStore,
  runId: string,
  part: PartRef,
  attempts: ResultCursor[],
): AsyncGenerator<{ custom_id: string; first: Result | null }> {
  const [first] = attempts;
  if (!first) {
    for await (const line of store.readLines(runId, part.artifact)) {
      yield { custom_id: customIdOf(line.text), first: null };
    }
    return;
  }
  let lines = 0;
  for (let result = await first.peek(); result; result = await first.peek()) {
    lines += 1;
    yield { custom_id: result.custom_id, first: first.take() };
  }
  // Attempt 1 answers every line; short, it was cut, and what it lost is nowhere else.
  if (lines !== part.requests) {
    throw failures.ArtifactMissing(
      `part ${part.index}: its first attempt's results have ${lines} lines, not ${part.requests}`,
    );
  }
}

async function nextCachedLine(lines: AsyncIterator<JsonlLine> | null): Promise<CachedLine | null> {
  const next = await lines?.next();
  return next && !next.done ? (JSON.parse(next.value.text) as CachedLine) : null;
}

/** A result line with its head read: once, however often the cursor is peeked at. */
interface Result {
  text: string;
  custom_id: string;
  status: RequestStatus;
}

/** Reads result lines one ahead, so that a line can be looked at before it is taken. */
class ResultCursor {
  private readonly lines: AsyncIterator<JsonlLine>;
  private next: Result | undefined;
  private done = false;

  constructor(lines: AsyncIterable<JsonlLine>) {
    this.lines = lines[Symbol.asyncIterator]();
  }

  async peek(): Promise<Result | undefined> {
    if (this.next === undefined && !this.done) {
      const result = await this.lines.next();
      if (result.done) this.done = true;
      else this.next = { text: result.value.text, ...resultHead(result.value.text) };
    }
    return this.next;
  }

  /** Stops reading (closing the file) if the lines did not run out. */
  async close(): Promise<void> {
    if (!this.done) await this.lines.return?.();
    this.done = true;
  }

  /** The line `peek()` returned. */
  take(): Result {
    const line = this.next;
    if (line === undefined) throw new Error('ResultCursor.take() without a line peeked');
    this.next = undefined;
    return line;
  }
}

/**
 * A request no attempt answered: its part never started because the run was cancelled or
 * failed first (`cancelled`), or, should it ever happen, a gap in the attempts' results.
 */
function neverFinished(
  customId: string,
  attempts: number,
  status: 'cancelled' | 'expired',
): { text: string; status: RequestStatus } {
  const error =
    status === 'cancelled'
      ? { code: 'run_stopped', message: 'the run stopped before this request was submitted' }
      : { code: 'missing_result', message: 'no attempt recorded a result for this request' };
  const result: ResultLine = {
    custom_id: customId,
    status,
    response: null,
    error,
    attempts,
    batch_id: null,
  };
  return { text: JSON.stringify(result), status };
}
