// The vocabulary workflows, activities and clients share: request and batch statuses, and the
// failures that cross the activity boundary. Workflow-safe: no Node imports.
import { ApplicationFailure } from '@temporalio/common';

export {
  addCounts,
  REQUEST_STATUSES,
  type RequestStatus,
  type StatusCounts,
  zeroCounts,
} from './request-statuses.js';

/** A provider batch's status in Nightshift's words; each provider maps its own onto these. */
export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** Statuses a batch never leaves. */
export const ENDED_BATCH_STATUSES: readonly BatchStatus[] = [
  'completed',
  'failed',
  'expired',
  'cancelled',
];

/** Statuses from which a batch can still be cancelled. */
export const CANCELLABLE_BATCH_STATUSES: readonly BatchStatus[] = [
  'validating',
  'in_progress',
  'finalizing',
];

/**
 * The failure types an activity or workflow raises, each with its constructor: `retry` ones
 * heal by themselves (Temporal retries them), `final` ones fail the step for good.
 */
export const failures = {
  /** Bad input or options: nothing was spent. */
  InvalidInput: final('InvalidInput'),
  /** The provider could not be reached, rate-limited us or failed on its side. */
  ProviderUnavailable: retry('ProviderUnavailable'),
  /** The run names a provider this worker has no credentials for. */
  ProviderNotConfigured: final('ProviderNotConfigured'),
  /**
   * A create whose answer was lost may have made one of several look-alike batches (a provider
   * that tags none): which one is known once they end, so the create waits rather than pay twice.
   */
  CreateUnresolved: retry('CreateUnresolved'),
  /** The provider refused the call (bad request, auth, not found). */
  ProviderRejected: final('ProviderRejected'),
  /** A download was cut short, or holds fewer lines than the batch reports. */
  TruncatedDownload: retry('TruncatedDownload'),
  /** An ended batch whose result files the provider has not published yet. */
  ResultFilesNotReady: retry('ResultFilesNotReady'),
  /** An ended batch whose result files never appeared within the wait's bound. */
  ResultFilesMissing: final('ResultFilesMissing'),
  /** A line of a provider's output or error file that is not what the API documents. */
  InvalidProviderOutput: final('InvalidProviderOutput'),
  /** An artifact an earlier step wrote is gone. */
  ArtifactMissing: final('ArtifactMissing'),
  /** The provider failed the batch while validating its file. */
  BatchValidationFailed: final('BatchValidationFailed'),
  /** The model's enqueued-token limit stayed full through every try. */
  TokenLimitExceeded: final('TokenLimitExceeded'),
} as const;

/** The failure types Temporal retries because they heal by themselves: expected, not alarming. */
export const HEALING_FAILURES: ReadonlySet<string> = new Set(
  Object.entries(failures)
    .filter(([, make]) => make.heals)
    .map(([type]) => type),
);

/** Details beyond the message: a retry delay the provider asked for, data for the caller. */
interface FailureOptions {
  nextRetryDelayMs?: number;
  details?: unknown[];
}

function retry(type: string) {
  const make = (message: string, { nextRetryDelayMs, details }: FailureOptions = {}) =>
    ApplicationFailure.create({
      message,
      type,
      details,
      ...(nextRetryDelayMs !== undefined ? { nextRetryDelay: nextRetryDelayMs } : {}),
    });
  return Object.assign(make, { heals: true });
}

function final(type: string) {
  const make = (message: string, { details }: FailureOptions = {}) =>
    ApplicationFailure.create({ message, type, details, nonRetryable: true });
  return Object.assign(make, { heals: false });
}
