// Stuck batches: a batch that stays in a passing state (validating, finalizing, cancelling) far
// longer than providers usually take has most likely stalled at the provider, which no poll will
// fix; people should hear of it. Pure: the part's workflow feeds it workflow time.
import type { BatchStatus } from './contract.js';

export const STUCK_STATES = ['validating', 'finalizing', 'cancelling'] as const;
export type StuckState = (typeof STUCK_STATES)[number];

/** Seconds in a state after which a batch counts as stuck, by state. */
export type StuckThresholds = Partial<Record<StuckState, number>>;

/**
 * Providers validate and finalize in minutes; OpenAI's forum reports of stalled batches sit in
 * these states for hours.
 */
export const DEFAULT_STUCK_AFTER_SECONDS: Record<StuckState, number> = {
  validating: 30 * 60,
  finalizing: 60 * 60,
  cancelling: 30 * 60,
};

/** Which state a batch is in, and since when (workflow time, ms). */
export interface StatusSince {
  status: BatchStatus;
  at: number;
}

/** What status shows of a stuck batch. */
export interface StuckBatch {
  status: StuckState;
  /** ISO time the batch was first seen in that state. */
  since: string;
  seconds: number;
}

function isStuckState(status: BatchStatus): status is StuckState {
  return (STUCK_STATES as readonly string[]).includes(status);
}

/** The batch's state as of `now`: since when it has been in it (kept when unchanged). */
export function statusSince(
  previous: StatusSince | null | undefined,
  status: BatchStatus,
  now: number,
): StatusSince {
  return previous?.status === status ? previous : { status, at: now };
}

/** The batch as stuck, or null while its state is young enough (or not one that passes). */
export function stuckBatch(
  seen: StatusSince,
  now: number,
  thresholds: StuckThresholds = {},
): StuckBatch | null {
  if (!isStuckState(seen.status)) return null;
  const limit = thresholds[seen.status] ?? DEFAULT_STUCK_AFTER_SECONDS[seen.status];
  const seconds = Math.floor((now - seen.at) / 1000);
  if (seconds < limit) return null;
  return { status: seen.status, since: new Date(seen.at).toISOString(), seconds };
}
