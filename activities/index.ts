import type OpenAI from 'openai';
import type { ArtifactStore } from '../src/artifacts.js';
import type { ClassifyInput, FinalizeInput, PrepareInput, RunSummary } from '../workflows/types.js';
import { classifyAttempt } from './classify.js';
import { writeSummary } from './finalize.js';
import { heartbeatLines } from './heartbeat.js';
import { mergeResults } from './merge.js';
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
  return {
    ...providerActivities(deps),
    prepare: (input: PrepareInput) => prepareParts(store, input, heartbeatLines),
    classify: (input: ClassifyInput) => classifyAttempt(store, input, heartbeatLines),
    /** Merges the results in input order, then writes summary.json. */
    async finalize(input: FinalizeInput): Promise<RunSummary> {
      const merged = await mergeResults(store, input.merge, heartbeatLines);
      return writeSummary(store, input, merged);
    },
  };
}

export type NightshiftActivities = ReturnType<typeof createActivities>;
