import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import { costOf } from '../src/pricing.js';
import type {
  ArtifactName,
  BatchRecord,
  FinalizeInput,
  MergeResult,
  RunSummary,
} from '../workflows/types.js';
import type { OnProgress } from './heartbeat.js';
import { mergeResults } from './merge.js';
import { countCost, countFinalRequests } from './metrics.js';

/**
 * The `finalize` activity: merges the results in input order, then writes summary.json. What the
 * run kept on the way is removed as soon as nothing reads it: the downloads and (unless some part
 * never started) the parts before the merge, the attempts' results (all in results.jsonl now)
 * after the summary. A run leaves its results.jsonl and summary.json.
 */
export async function finalizeRun(
  store: ArtifactStore,
  input: FinalizeInput,
  onProgress?: OnProgress,
): Promise<RunSummary> {
  // An earlier attempt that wrote the summary merged from files now removed: it stands.
  const done = await store.readJson<RunSummary>(input.runId, artifactNames.summary);
  if (done) return removeMerged(store, input.runId, done);
  await removeAll(store, input.runId, artifactNames.beforeMerge);
  // Merge reads a part only if it was never attempted: a first attempt's results stand for it.
  if (input.merge.parts.every((p) => p.results.length > 0)) {
    await store.remove(input.runId, artifactNames.parts);
  }
  const merged = await mergeResults(store, input.merge, onProgress);
  const summary = await writeSummary(store, input, merged);
  countFinalRequests(summary.counts);
  if (summary.cost_usd) countCost(summary.cost_usd.batch);
  return removeMerged(store, input.runId, summary);
}

async function removeMerged(
  store: ArtifactStore,
  runId: string,
  summary: RunSummary,
): Promise<RunSummary> {
  await removeAll(store, runId, artifactNames.merged);
  return summary;
}

const removeAll = (store: ArtifactStore, runId: string, names: readonly ArtifactName[]) =>
  Promise.all(names.map((name) => store.remove(runId, name)));

function runStatus(
  input: Pick<FinalizeInput, 'failed' | 'cancelled'>,
  counts: MergeResult['counts'],
): RunSummary['status'] {
  if (input.failed) return 'failed';
  if (input.cancelled) return 'cancelled';
  return counts.succeeded === counts.total ? 'completed' : 'partial';
}

/** Invalid outputs per attempt, summed over the parts; nothing when no output had a schema. */
function invalidOutputsOf(batches: BatchRecord[]): Pick<RunSummary, 'invalid_outputs_by_attempt'> {
  const checked = batches.filter((b) => b.invalid_outputs !== undefined);
  if (checked.length === 0) return {};
  const byAttempt: Record<string, number> = {};
  for (const b of checked) {
    byAttempt[b.attempt] = (byAttempt[b.attempt] ?? 0) + (b.invalid_outputs ?? 0);
  }
  return { invalid_outputs_by_attempt: byAttempt };
}

/** Builds summary.json from the merged results, and writes it last: its presence means done. */
async function writeSummary(
  store: ArtifactStore,
  input: FinalizeInput,
  merged: MergeResult,
): Promise<RunSummary> {
  const finished = new Date();
  const started = new Date(input.startedAt);
  const cost = input.model ? costOf(input.model, merged.usage) : null;
  const syncCost = input.sync && input.model ? costOf(input.model, input.sync.usage) : null;
  const summary: RunSummary = {
    run_id: input.runId,
    status: runStatus(input, merged.counts),
    endpoint: input.endpoint,
    model: input.model,
    counts: merged.counts,
    batches: input.batches,
    usage: merged.usage,
    cost_usd: cost,
    ...(input.budget
      ? {
          budget: {
            ...input.budget,
            spent_usd: (cost?.batch ?? 0) + (syncCost?.standard_equivalent ?? 0),
            stopped: input.budget.stopped,
          },
        }
      : {}),
    ...invalidOutputsOf(input.batches),
    ...(merged.cache
      ? {
          cache: {
            ...merged.cache,
            saved_usd: input.model
              ? (costOf(input.model, merged.cache.usage)?.batch ?? null)
              : null,
          },
        }
      : {}),
    ...(input.deadline
      ? {
          deadline: {
            at: input.deadline.at,
            met: finished.getTime() <= Date.parse(input.deadline.at),
            hedges: input.deadline.hedges,
          },
        }
      : {}),
    ...(input.sync
      ? {
          sync: {
            requests: input.sync.requests,
            succeeded: input.sync.succeeded,
            usage: input.sync.usage,
            cost_usd: syncCost?.standard_equivalent ?? null,
            extra_usd: syncCost?.saved ?? null,
            rate_limited: input.sync.rateLimited,
            seconds: input.sync.seconds,
          },
        }
      : {}),
    started_at: input.startedAt,
    finished_at: finished.toISOString(),
    duration_s: Math.round((finished.getTime() - started.getTime()) / 100) / 10,
    results_path: merged.results,
  };
  await store.writeJson(input.runId, artifactNames.summary, summary);
  return summary;
}
