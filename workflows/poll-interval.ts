/**
 * How long to sleep before the next poll of a batch. Short while the provider validates,
 * finalizes or cancels (those phases are brief) and when the batch is nearly done; while it
 * makes no visible progress the interval doubles toward the maximum, so a 24-hour batch costs
 * a few dozen polls rather than thousands.
 */
export function nextPollInterval(
  previousSeconds: number | null,
  status: string,
  progress: { done: number; total: number; changed: boolean },
  bounds: { minSeconds: number; maxSeconds: number },
): number {
  const { minSeconds, maxSeconds } = bounds;
  if (status !== 'in_progress' || previousSeconds === null) return minSeconds;
  const nearlyDone = progress.total > 0 && progress.done / progress.total >= 0.9;
  if (nearlyDone) return minSeconds;
  const next = progress.changed ? previousSeconds : previousSeconds * 2;
  return Math.min(maxSeconds, Math.max(minSeconds, next));
}
