import { APIError } from 'openai';
import { failures } from '../../../workflows/contract.js';

/** Statuses that heal by themselves: rate limits, timeouts, conflicts and server trouble. */
export function isRetryableStatus(status: number | undefined): boolean {
  return (
    status === undefined || status === 408 || status === 409 || status === 429 || status >= 500
  );
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  const value = headers?.get('retry-after-ms') ?? null;
  if (value !== null && Number.isFinite(Number(value))) return Number(value);
  const seconds = headers?.get('retry-after') ?? null;
  if (seconds === null) return undefined;
  if (Number.isFinite(Number(seconds))) return Number(seconds) * 1000;
  const at = Date.parse(seconds);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * Turns an OpenAI SDK error into what Temporal should do with it: retry (after the provider's
 * `retry-after` when it sent one) or give up for good. Messages carry the provider's text and
 * never the request, so no key or body reaches workflow history. The HTTP status (or
 * `connection`) rides along in the details, for the metrics.
 */
export function toActivityFailure(err: unknown, what: string): Error {
  if (!(err instanceof APIError)) return err instanceof Error ? err : new Error(String(err));
  const message = `${what}: ${err.status ?? 'connection error'} ${err.message}`;
  const details = [{ status: err.status ?? 'connection' }];
  if (isRetryableStatus(err.status)) {
    return failures.ProviderUnavailable(message, {
      nextRetryDelayMs: retryAfterMs(err.headers),
      details,
    });
  }
  return failures.ProviderRejected(message, { details });
}

/** Runs an OpenAI call and rethrows its failure as {@link toActivityFailure} says. */
export async function callOpenAI<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toActivityFailure(err, what);
  }
}
