// The final statuses of a request, in a module of their own: the CLI's light commands (status,
// progress) list them without loading the SDK that the contract's failures need.

/** Every final status of a request, in the order summaries and metrics list them. */
export const REQUEST_STATUSES = [
  'succeeded',
  'invalid_output',
  'failed',
  'expired',
  'cancelled',
] as const;

/** Final status of one request, as written to results.jsonl. */
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** How many requests ended in each status. */
export type StatusCounts = Record<RequestStatus, number>;

export const zeroCounts = (): StatusCounts =>
  Object.fromEntries(REQUEST_STATUSES.map((s) => [s, 0])) as StatusCounts;

/**
 * Adds `more` into `into`, status by status. Counts from runs started before a status existed
 * (their histories replay) lack it: a missing count is 0, never NaN.
 */
export function addCounts(into: StatusCounts, more: StatusCounts): StatusCounts {
  for (const s of REQUEST_STATUSES) into[s] = (into[s] ?? 0) + (more[s] ?? 0);
  return into;
}
