import { proxyActivities } from '@temporalio/workflow';
import type { NightshiftActivities } from '../activities/index.js';

// Each group of activities gets the timeouts its work needs, and only its own activities: a
// 30-second proxy cannot call classify. Every group retries without end (1 s doubling to 1 min)
// since a 24-hour run must ride out a provider or store outage; what cannot heal is thrown as a
// non-retryable failure (workflows/contract.ts).
const retry = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
} as const;

type Group<K extends keyof NightshiftActivities> = Pick<NightshiftActivities, K>;

/**
 * Quick calls on a provider's batches and files. 30 s bounds what a lost completion costs (a
 * worker or server dying mid-call): the call is simply made again, and a deletion meets files
 * already gone.
 */
export const { pollBatch, cancelBatch, deleteProviderFiles, syncPace } = proxyActivities<
  Group<'pollBatch' | 'cancelBatch' | 'deleteProviderFiles' | 'syncPace'>
>({ startToCloseTimeout: '30s', retry });

/** Long work heartbeats (every 10 s, or every 5,000 lines): a dead worker is noticed in 1 min. */
const long = { startToCloseTimeout: '2h', heartbeatTimeout: '1m', retry } as const;

/**
 * Creating a batch, which a retry finds again rather than repeats: a quick call where the
 * provider takes a file id, but one that carries the part (up to 256 MB) where the provider
 * takes its requests inline (Anthropic). It heartbeats meanwhile, so a create still sending is
 * never retried beside itself.
 */
export const { createBatch } = proxyActivities<Group<'createBatch'>>(long);

/** Moving a part to the provider and its results back: up to 200 MB each way. */
export const { upload, download } = proxyActivities<Group<'upload' | 'download'>>(long);

/** Reading and writing a part's or a run's files in the store: split, classify, merge. */
export const { prepare, classify, finalize, countTokens } =
  proxyActivities<Group<'prepare' | 'classify' | 'finalize' | 'countTokens'>>(long);

/** The deadline fallback: a part's leftovers through the synchronous API, paced by the provider. */
export const { sendSync } = proxyActivities<Group<'sendSync'>>(long);

/** A schedule's firing reading its input afresh: a template build, a validation, a cache lookup. */
export const { prepareScheduledRun } = proxyActivities<Group<'prepareScheduledRun'>>(long);
