import { proxyActivities } from '@temporalio/workflow';
import type { NightshiftActivities } from '../activities/index.js';

// Provider calls retry forever with capped backoff: a 24-hour run must ride out an outage.
// Errors that cannot heal (bad input, auth) are thrown as non-retryable by the activities.
const retry = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
} as const;

/**
 * Quick provider calls: create, poll, cancel. A short timeout bounds what a lost completion
 * costs (a worker or server dying mid-call): the call is simply made again.
 */
export const provider = proxyActivities<NightshiftActivities>({
  startToCloseTimeout: '30s',
  retry,
});

/** Work proportional to a part's size; heartbeats let a dead worker be noticed in a minute. */
export const bulk = proxyActivities<NightshiftActivities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '1m',
  retry,
});
