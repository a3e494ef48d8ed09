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
  return {
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
  };
}

export type NightshiftActivities = ReturnType<typeof createActivities>;
