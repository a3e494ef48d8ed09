// A run's deadline as users give it (`submit --deadline 6h`, an ISO time, a Date), made into the
// `Deadline` the workflows plan with (`workflows/deadline.ts`).
import { defaultMarginSeconds } from '../workflows/deadline.js';
import type { Deadline } from '../workflows/types.js';
import { DEFAULT_SYNC_CONCURRENCY, DEFAULT_SYNC_SECONDS_PER_REQUEST } from './config.js';

/** What the client library and the CLI take. */
export type DeadlineOption =
  | string
  | Date
  | {
      /** An ISO time, a Date, or a duration from the submit (`90s`, `45m`, `6h`, `2d`). */
      at: string | Date;
      /** Default: a tenth of the time from the submit to the deadline. */
      marginSeconds?: number;
      /** Synchronous requests in flight at once, per part (default 8). */
      syncConcurrency?: number;
      /** The expected time of one synchronous request (default 2 s). */
      syncSecondsPerRequest?: number;
    };

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `45m`, `6h`, `2d` in seconds, or null for anything else. */
export function durationSeconds(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text.trim());
  return match ? Number(match[1]) * (UNITS[match[2] as string] as number) : null;
}

/**
 * The deadline of a run submitted `now`.
 * @throws RangeError for a time that does not parse, or that has passed
 */
export function deadlineOf(option: DeadlineOption, now = new Date()): Deadline {
  const spec = typeof option === 'string' || option instanceof Date ? { at: option } : option;
  const at = timeOf(spec.at, now);
  if (at.getTime() <= now.getTime()) {
    throw new RangeError(`deadline ${at.toISOString()} has passed`);
  }
  return {
    at: at.toISOString(),
    marginSeconds: spec.marginSeconds ?? defaultMarginSeconds(at, now),
    syncConcurrency: spec.syncConcurrency ?? DEFAULT_SYNC_CONCURRENCY,
    syncSecondsPerRequest: spec.syncSecondsPerRequest ?? DEFAULT_SYNC_SECONDS_PER_REQUEST,
  };
}

function timeOf(at: string | Date, now: Date): Date {
  if (at instanceof Date) return at;
  const seconds = durationSeconds(at);
  if (seconds !== null) return new Date(now.getTime() + seconds * 1000);
  const time = Date.parse(at);
  if (Number.isNaN(time)) {
    throw new RangeError(
      `deadline: expected an ISO time or a duration (90s, 45m, 6h, 2d), got "${at}"`,
    );
  }
  return new Date(time);
}
