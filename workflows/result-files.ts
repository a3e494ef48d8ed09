import type { BatchSnapshot } from './types.js';

/**
 * Whether an ended batch reports results that its file ids do not show yet. Providers publish a
 * terminal status a read or two before the output and error files (BerriAI/litellm#37713):
 * collecting such a batch then would find nothing, resubmit what was already done and billed,
 * or wait forever on a download that cannot succeed. Successes live in the output file; failed
 * requests in the error file, or in the output file where a provider keeps both in one.
 */
export function resultFilesPending(batch: BatchSnapshot): boolean {
  const { completed, failed } = batch.requestCounts;
  if (completed > 0 && !batch.outputFileId) return true;
  return failed > 0 && !batch.outputFileId && !batch.errorFileId;
}
