import type { PartProgress, PartRef, StatusCounts } from './types.js';

export const noCounts = (): StatusCounts => ({ succeeded: 0, failed: 0, expired: 0, cancelled: 0 });

/** A part's progress before anything happened to it. */
export function pendingPart(
  part: Pick<PartRef, 'part' | 'requests'>,
  attempt: number,
): PartProgress {
  return {
    part: part.part,
    requests: part.requests,
    phase: 'pending',
    attempt,
    batchId: null,
    providerStatus: null,
    requestCounts: { total: 0, completed: 0, failed: 0 },
    counts: noCounts(),
  };
}
