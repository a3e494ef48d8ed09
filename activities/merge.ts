import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import { addUsage, emptyUsage, usageOfBody } from '../src/pricing.js';
import { customIdOf } from '../src/requests.js';
import type {
  MergeInput,
  MergeResult,
  RequestStatus,
  ResultLine,
  Usage,
} from '../workflows/types.js';
import { type OnProgress, PROGRESS_EVERY_LINES } from './heartbeat.js';

/** A part's final result for one request, kept as written so that it is copied unchanged. */
interface Final {
  text: string;
  status: RequestStatus;
  usage: Usage | null;
}

/**
 * Writes results.jsonl: one line per input line, in input order. Parts are contiguous slices
 * of the input, so walking them in order keeps the input order while only one part's results
 * are held in memory.
 */
export async function mergeResults(
  store: ArtifactStore,
  input: MergeInput,
  onProgress?: OnProgress,
): Promise<MergeResult> {
  const counts = { total: 0, succeeded: 0, failed: 0, expired: 0, cancelled: 0 };
  const usage = emptyUsage();
  const writer = await store.writer(input.runId, artifactNames.results);
  try {
    for (const { part, resultsPaths } of input.parts) {
      const finals = await loadFinals(store, input.runId, resultsPaths);
      for await (const line of store.readLines(input.runId, part.path)) {
        const custom_id = customIdOf(line.text);
        const final =
          finals.get(custom_id) ??
          neverFinished(custom_id, resultsPaths.length, input.unfinishedStatus ?? 'expired');
        await writer.write(final.text);
        counts.total += 1;
        counts[final.status] += 1;
        if (final.usage) addUsage(usage, final.usage);
        if (counts.total % PROGRESS_EVERY_LINES === 0) onProgress?.(counts.total);
      }
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.commit();
  return { resultsPath: artifactNames.results, counts, usage };
}

/**
 * Each request's last word across a part's attempts. A later attempt holds only what was
 * resubmitted, so it overrides the earlier line for those and leaves the rest alone.
 */
async function loadFinals(
  store: ArtifactStore,
  runId: string,
  resultsPaths: string[],
): Promise<Map<string, Final>> {
  const finals = new Map<string, Final>();
  for (const name of resultsPaths) {
    for await (const line of store.readLines(runId, name)) {
      const result = JSON.parse(line.text) as ResultLine;
      finals.set(result.custom_id, {
        text: line.text,
        status: result.status,
        usage: result.status === 'succeeded' ? usageOfBody(result.response?.body) : null,
      });
    }
  }
  return finals;
}

/**
 * A request no attempt answered: its part never started because the run was cancelled or
 * failed first (`cancelled`), or, should it ever happen, a gap in the attempts' results.
 */
function neverFinished(customId: string, attempts: number, status: 'cancelled' | 'expired'): Final {
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
  return { text: JSON.stringify(result), status, usage: null };
}
