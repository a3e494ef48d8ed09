import { Context } from '@temporalio/activity';

const HEARTBEAT_EVERY_MS = 10_000;

/** Lines between two progress reports: often enough for a one-minute heartbeat timeout. */
export const PROGRESS_EVERY_LINES = 5_000;

export type OnProgress = (lines: number) => void;

export function currentContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}

/** Heartbeats `{ lines }` when running as an activity; a no-op in plain calls (tests, CLI). */
export const heartbeatLines: OnProgress = (lines) => {
  currentContext()?.heartbeat({ lines });
};

/**
 * Heartbeats while a long call (an upload, a download) is in flight, so the server notices a
 * dead worker within the heartbeat timeout instead of the activity's full timeout.
 */
export async function whileHeartbeating<T>(work: () => Promise<T>): Promise<T> {
  const context = currentContext();
  if (!context) return work();
  const timer = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
