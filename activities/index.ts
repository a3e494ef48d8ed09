import { ApplicationFailure } from '@temporalio/common';
import type { ArtifactStore } from '../src/artifacts.js';
import type { Providers } from '../src/providers/provider.js';
import { readPace } from '../src/sync-pace.js';
import { failures } from '../workflows/contract.js';
import type { ProviderName } from '../workflows/provider-names.js';
import type {
  ClassifyInput,
  CountTokensInput,
  FinalizeInput,
  PrepareInput,
  PrepareScheduledInput,
  SyncInput,
} from '../workflows/types.js';
import { batchActivities } from './batches.js';
import { classifyAttempt } from './classify.js';
import { finalizeRun } from './finalize.js';
import { collectGarbage } from './garbage.js';
import { heartbeatLines, type OnProgress } from './heartbeat.js';
import { countBatch, countProviderError, countResubmitted } from './metrics.js';
import { prepareParts } from './prepare.js';
import { prepareScheduledRun } from './scheduled.js';
import { sendSync } from './sync.js';
import { countTokens } from './tokens.js';
import { transferActivities } from './transfers.js';

export interface ActivityDeps {
  /** The providers this worker has credentials for; a run names the one it uses. */
  providers: Providers;
  store: ArtifactStore;
}

/**
 * Every activity of Nightshift, bound to the worker's providers and one artifact store, so a
 * worker (or a test) decides where requests go and where files live.
 */
export function createActivities({ providers, store }: ActivityDeps) {
  // Every few thousand lines: a heartbeat, and a look at how much garbage the lines left.
  const progress: OnProgress = (lines) => {
    heartbeatLines(lines);
    collectGarbage();
  };
  return atTheBoundary({
    ...batchActivities(providers, store),
    ...transferActivities(providers, store),
    prepare: (input: PrepareInput) => prepareParts(store, input, progress),
    async classify(input: ClassifyInput) {
      const result = await classifyAttempt(store, input, progress);
      if (input.batchId) countBatch(input.batchStatus, input.attempt);
      countResubmitted(result.retry);
      return result;
    },
    finalize: (input: FinalizeInput) => finalizeRun(store, input, progress),
    prepareScheduledRun: (input: PrepareScheduledInput) => prepareScheduledRun(store, input),
    sendSync: (input: SyncInput) => sendSync(providers, store, input),
    countTokens: (input: CountTokensInput) => countTokens(store, input, progress),
    /** The synchronous pace the last deadline fallback of this provider and model measured. */
    syncPace: async (input: { provider: ProviderName; model: string | null }) =>
      (await readPace(store, input.provider, input.model))?.secondsPerRequest ?? null,
  });
}

/**
 * What every activity does with its failures on the way out: provider failures are counted for
 * the metrics; an artifact that an earlier step wrote and this one cannot find stays missing
 * however often the activity is retried with the same input (it was removed, or this worker
 * does not share the store), so it fails the activity for good, naming the file.
 */
function atTheBoundary<T extends Record<string, (input: never) => Promise<unknown>>>(
  activities: T,
): T {
  const wrapped = Object.entries(activities).map(([name, activity]) => [
    name,
    (input: never) =>
      activity(input).catch((err: unknown) => {
        if (err instanceof ApplicationFailure && err.type?.startsWith('Provider')) {
          const [detail] = (err.details ?? []) as { status?: number | string }[];
          countProviderError(detail?.status ?? 'other');
        }
        const { code, path } = err as NodeJS.ErrnoException;
        if (code !== 'ENOENT') throw err;
        throw failures.ArtifactMissing(
          `${name}: ${path} does not exist (do all workers share the store?)`,
        );
      }),
  ]);
  return Object.fromEntries(wrapped) as T;
}

export type NightshiftActivities = ReturnType<typeof createActivities>;
