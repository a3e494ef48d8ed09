// Deadlines: a part plans backwards from the run's deadline. While its batch runs, it forecasts
// when the batch will have finished its requests (from its progress so far) and how long the
// synchronous API would take for what is left (from the planned pace); once waiting any longer
// would leave the synchronous API too little time, and the batch is not forecast to make it, the
// part cancels the batch and sends the rest synchronously. Pure: the workflow feeds it workflow
// time.
import type { Deadline } from './types.js';

/** A batch's progress as the part first saw it running (workflow time, ms). */
export interface ProgressSince {
  at: number;
  done: number;
}

/** What the part knows of its batch when it judges. */
export interface BatchView {
  now: number;
  /** Requests of the attempt the batch has not finished. */
  remaining: number;
  done: number;
  /** Flagged stuck (`stuck.ts`): no forecast from its progress holds. */
  stuck: boolean;
  /** Its progress when the part first saw it in progress (null: not yet). */
  since: ProgressSince | null;
}

export type HedgeVerdict =
  | { hedge: true; reason: string }
  /** Wait: judge again at `recheckAt` (workflow ms) at the latest, if that comes before the next poll. */
  | { hedge: false; recheckAt: number | null };

/**
 * Seconds the synchronous API takes for `requests`: at the pace the last fallback measured for
 * the provider and model (seconds a request per slot), else at the deadline's planned one.
 */
export function syncSeconds(
  deadline: Deadline,
  requests: number,
  measured?: number | null,
): number {
  return (requests * (measured ?? deadline.syncSecondsPerRequest)) / deadline.syncConcurrency;
}

/** The default margin: a tenth of the time the run has, as the user gave it no other. */
export function defaultMarginSeconds(at: Date, now: Date): number {
  return Math.max(0, Math.round((at.getTime() - now.getTime()) / 10_000));
}

/**
 * Whether to give up on the batch now. The last moment the synchronous API can start and still
 * end by the deadline less its margin is `latest`; until then the batch keeps its chance (it
 * costs half). At `latest`, a batch forecast to end in time is still waited for; one that is
 * stuck, has made no progress, or would end later at its pace so far, is not.
 */
export function judgeHedge(
  deadline: Deadline,
  view: BatchView,
  /** The measured pace (`src/sync-pace.ts`), if any. */
  measured: number | null = null,
): HedgeVerdict {
  const end = Date.parse(deadline.at) - deadline.marginSeconds * 1000;
  const syncMs = syncSeconds(deadline, view.remaining, measured) * 1000;
  const latest = end - syncMs;
  const forecast = batchEndForecast(view);
  if (forecast <= end) return { hedge: false, recheckAt: latest > view.now ? latest : null };
  if (view.now < latest) return { hedge: false, recheckAt: latest };
  const why = view.stuck
    ? 'it is stuck'
    : forecast === Number.POSITIVE_INFINITY
      ? 'it has made no progress'
      : `at its pace it would end at ${new Date(forecast).toISOString()}`;
  return {
    hedge: true,
    reason:
      `${view.remaining} requests unfinished and ${why}; synchronously they take ` +
      `~${Math.ceil(syncMs / 1000)} s (${measured === null ? 'planned' : 'measured'} pace), ` +
      `and the deadline is ${deadline.at} ` +
      `(margin ${deadline.marginSeconds} s)`,
  };
}

/** When the batch will have finished, at its pace since it was first seen running. */
function batchEndForecast({ now, remaining, done, stuck, since }: BatchView): number {
  // Nothing left to send: a batch stuck finalizing has run every request, and sending them again
  // would not make its results come sooner (nor can it be cancelled).
  if (remaining === 0) return now;
  if (stuck) return Number.POSITIVE_INFINITY;
  if (!since || now <= since.at || done <= since.done) return Number.POSITIVE_INFINITY;
  const perMs = (done - since.done) / (now - since.at);
  return now + remaining / perMs;
}
