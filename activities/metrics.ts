import type { MetricTags } from '@temporalio/common';
import { REQUEST_STATUSES, type StatusCounts } from '../workflows/contract.js';
import { currentContext } from './heartbeat.js';

// Nightshift's own Prometheus metrics, next to the Temporal SDK's (enabled with the worker's
// --metrics-port). Outside an activity (tests, CLI) they are no-ops.

function count(name: string, description: string, value: number, tags: MetricTags = {}): void {
  if (value <= 0) return;
  currentContext()?.metricMeter.createCounter(name, undefined, description).add(value, tags);
}

export function countFinalRequests(counts: StatusCounts): void {
  for (const status of REQUEST_STATUSES) {
    count('nightshift_requests', 'requests by final status', counts[status], { status });
  }
}

export function countBatch(status: string, attempt: number): void {
  count('nightshift_batches', 'provider batches by final status', 1, {
    status,
    attempt: String(attempt),
  });
}

export function countResubmitted(requests: number): void {
  count('nightshift_requests_resubmitted', 'requests sent again in a later attempt', requests);
}

export function countBytes(direction: 'uploaded' | 'downloaded', bytes: number): void {
  count(`nightshift_bytes_${direction}`, `bytes ${direction} to or from the provider`, bytes);
}

export function countProviderError(status: number | string): void {
  count('nightshift_provider_errors', 'failed provider calls by HTTP status', 1, {
    status: String(status),
  });
}

/** Integer counter: micro-dollars keep cents exact without a float counter. */
export function countCost(usd: number): void {
  count(
    'nightshift_cost_microusd',
    'batch cost of finished runs, in millionths of a USD',
    Math.round(usd * 1e6),
  );
}
