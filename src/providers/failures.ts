import { failures } from '../../workflows/contract.js';

/** Statuses that heal by themselves: rate limits, timeouts, conflicts and server trouble. */
function isRetryableStatus(status: number | undefined): boolean {
  return (
    status === undefined || status === 408 || status === 409 || status === 429 || status >= 500
  );
}

export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const value = headers?.get('retry-after-ms') ?? null;
  if (value !== null && Number.isFinite(Number(value))) return Number(value);
  const seconds = headers?.get('retry-after') ?? null;
  if (seconds === null) return undefined;
  if (Number.isFinite(Number(seconds))) return Number(seconds) * 1000;
  const at = Date.parse(seconds);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** What the official SDKs' API errors have in common (undefined status: no answer at all). */
export interface SdkApiError {
  status: number | undefined;
  message: string;
  headers: Headers | undefined;
}

/**
 * Turns a provider SDK's API error into what Temporal should do with it: retry (after the
 * provider's `retry-after` when it sent one) or give up for good. Messages carry the provider's
 * text and never the request, so no key or body reaches workflow history. The HTTP status (or
 * `connection`) rides along in the details, for the metrics.
 */
export function apiFailure(
  err: SdkApiError,
  what: string,
  /** The provider's retry hint, where it sends none in headers (Gemini's RetryInfo). */
  retryDelayMs = retryAfterMs(err.headers),
): Error {
  const message = `${what}: ${err.status ?? 'connection error'} ${err.message}`;
  const details = [{ status: err.status ?? 'connection' }];
  if (isRetryableStatus(err.status)) {
    return failures.ProviderUnavailable(message, {
      nextRetryDelayMs: retryDelayMs,
      details,
    });
  }
  return failures.ProviderRejected(message, { details });
}

/**
 * Cancels a batch that is still running; one that has ended is returned as it is, including
 * one that ends between the read and the cancel (the provider then refuses the cancel, which a
 * retry would only meet again).
 */
export async function cancelUnlessEnded<B>(calls: {
  retrieve(): Promise<B>;
  cancel(): Promise<B>;
  running(batch: B): boolean;
}): Promise<B> {
  const current = await calls.retrieve();
  if (!calls.running(current)) return current;
  return calls.cancel().catch(async (err: unknown) => {
    const now = await calls.retrieve();
    if (calls.running(now)) throw err;
    return now;
  });
}

/**
 * A provider's call wrapper: runs a call and rethrows its failure as `toFailure` turns that
 * SDK's errors into the contract's, so every activity sees the same failures whatever the SDK.
 */
export function callerWith(toFailure: (err: unknown, what: string) => Error) {
  return async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      throw toFailure(err, what);
    }
  };
}
