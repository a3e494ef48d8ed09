import { ApplicationFailure } from '@temporalio/common';
import type OpenAI from 'openai';
import type { ArtifactStore } from '../src/artifacts.js';
import type { ClassifyInput, FinalizeInput, PrepareInput, RunSummary } from '../workflows/types.js';
import { classifyAttempt } from './classify.js';
import { writeSummary } from './finalize.js';
import { collectGarbage } from './garbage.js';
import { heartbeatLines, type OnProgress } from './heartbeat.js';
import { mergeResults } from './merge.js';
import { countBatch, countCost, countFinalRequests, countResubmitted } from './metrics.js';
import { prepareParts } from './prepare.js';
import { providerActivities } from './provider.js';

export interface ActivityDeps {
  openai: OpenAI;
  store: ArtifactStore;
}

/**
 * Every activity of Nightshift, bound to one OpenAI client and one artifact store, so a worker
 * (or a test) decides where requests go and where files live.
 */
export function createActivities(deps: ActivityDeps) {
  const { store } = deps;
  // Every few thousand lines: a heartbeat, and a look at how much garbage the lines left.
  const progress: OnProgress = (lines) => {
    heartbeatLines(lines);
    collectGarbage();
  };
  return missingArtifactsFailForGood({
    ...providerActivities(deps),
    prepare: (input: PrepareInput) => prepareParts(store, input, progress),
    async classify(input: ClassifyInput) {
      const result = await classifyAttempt(store, input, progress);
      if (input.batchId) countBatch(input.batchStatus, input.attempt);
      countResubmitted(result.retry);
      return result;
    },
    /** Merges the results in input order, then writes summary.json. */
    async finalize(input: FinalizeInput): Promise<RunSummary> {
      const merged = await mergeResults(store, input.merge, progress);
      const summary = await writeSummary(store, input, merged);
      countFinalRequests(summary.counts);
      if (summary.cost_usd) countCost(summary.cost_usd.batch);
      return summary;
    },
  });
}

/**
 * An artifact that an earlier step wrote and this one cannot find stays missing however often
 * the activity is retried with the same input (it was removed, or this worker does not share
 * the store): fail the activity for good, naming the file, rather than retry it forever.
 */
function missingArtifactsFailForGood<T extends Record<string, (input: never) => Promise<unknown>>>(
  activities: T,
): T {
  const wrapped = Object.entries(activities).map(([name, activity]) => [
    name,
    (input: never) =>
      activity(input).catch((err: unknown) => {
        const { code, path } = err as NodeJS.ErrnoException;
        if (code !== 'ENOENT') throw err;
        throw ApplicationFailure.nonRetryable(
          `${name}: ${path} does not exist (do all workers share NIGHTSHIFT_HOME?)`,
          'ArtifactMissing',
        );
      }),
  ]);
  return Object.fromEntries(wrapped) as T;
}

export type NightshiftActivities = ReturnType<typeof createActivities>;
