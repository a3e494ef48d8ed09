import { condition } from '@temporalio/workflow';

/**
 * Calls `start` on each item in turn with at most `limit` of them unsettled at once, and waits
 * for every one started; once `stop()` holds, starts no more.
 */
export async function inWindow<T>(
  items: Iterable<T>,
  limit: number,
  stop: () => boolean,
  start: (item: T) => Promise<void>,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (const item of items) {
    await condition(() => inFlight.size < limit || stop());
    if (stop()) break;
    const task: Promise<void> = start(item).finally(() => inFlight.delete(task));
    inFlight.add(task);
  }
  await condition(() => inFlight.size === 0);
}
