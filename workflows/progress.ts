import { zeroCounts } from './contract.js';
import type { PartProgress, PartRef } from './types.js';

/** A part's progress before anything happened to it. */
export function pendingPart(
  part: Pick<PartRef, 'index' | 'requests'>,
  attempt: number,
): PartProgress {
  return {
    part: part.index,
    requests: part.requests,
    phase: 'pending',
    attempt,
    batchId: null,
    providerStatus: null,
    requestCounts: { total: 0, completed: 0, failed: 0 },
    counts: zeroCounts(),
  };
}
