import { ApiError } from '@google/genai';
import { apiFailure, callerWith } from '../failures.js';

/**
 * The `retryDelay` of a RetryInfo detail in the error body, which the SDK keeps as the error's
 * message (it keeps no headers, so this is how Google's retry hint survives).
 */
export function retryDelayMs(message: string): number | undefined {
  try {
    const body = JSON.parse(message) as { error?: { details?: { retryDelay?: unknown }[] } };
    const delay = body.error?.details?.find((d) => typeof d.retryDelay === 'string')?.retryDelay;
    const seconds = Number(String(delay ?? '').replace(/s$/, ''));
    return delay !== undefined && Number.isFinite(seconds) ? seconds * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** What fetch throws when the connection fails or the SDK's timeout aborts the request. */
function isConnectionError(err: unknown): err is Error {
  return (
    err instanceof Error &&
    (err.name === 'AbortError' || err.name === 'TimeoutError' || err.message === 'fetch failed')
  );
}

/**
 * Turns a `@google/genai` failure into what Temporal should do with it, as for OpenAI:
 * 408/409/429/5xx and connection failures heal (after Google's RetryInfo delay when it sent
 * one), the rest fail the step for good. The HTTP status (or `connection`) rides along.
 */
export function toActivityFailure(err: unknown, what: string): Error {
  if (isConnectionError(err)) {
    return apiFailure({ status: undefined, message: err.message, headers: undefined }, what);
  }
  if (!(err instanceof ApiError)) return err instanceof Error ? err : new Error(String(err));
  const { status, message } = err;
  return apiFailure({ status, message, headers: undefined }, what, retryDelayMs(message));
}

/** Runs a Gemini call and rethrows its failure as {@link toActivityFailure} says. */
export const callGemini = callerWith(toActivityFailure);
