// A provider's synchronous API, for requests a deadline no longer lets wait for a batch: one
// request at a time, answered in a batch output line's terms, with what the answer's rate-limit
// headers say about the next request.
import { retryAfterMs } from './failures.js';

/** What the synchronous API answered one request. Network failures throw instead. */
export interface SyncAnswer {
  statusCode: number;
  requestId: string;
  /** The provider's own body: the response, or its error. */
  body: unknown;
  /**
   * How long every sender should hold off before the next request: a 429's `retry-after`, or
   * the time until the rate-limit window resets once its requests are spent; null: go on.
   */
  pauseMs: number | null;
}

/** What the official SDKs' `.withResponse()` gives, and their API errors carry. */
interface SdkResponse {
  data: unknown;
  response: Response;
  request_id?: string | null;
}
interface SdkError {
  status: number | undefined;
  headers: Headers | undefined;
  error: unknown;
  requestID?: string | null;
}

/**
 * Sends one request through an official SDK (with its own retries off: the sender paces and
 * retries) and turns an HTTP error answer into a {@link SyncAnswer} like a success.
 */
export async function syncAnswer(
  send: () => Promise<SdkResponse>,
  isApiError: (err: unknown) => err is SdkError,
): Promise<SyncAnswer> {
  try {
    const { data, response, request_id } = await send();
    return {
      statusCode: response.status,
      requestId: request_id ?? '',
      body: data,
      pauseMs: pauseOf(response.status, response.headers),
    };
  } catch (err) {
    if (!isApiError(err) || err.status === undefined) throw err;
    return {
      statusCode: err.status,
      requestId: err.requestID ?? '',
      body: err.error ?? null,
      pauseMs: pauseOf(err.status, err.headers),
    };
  }
}

/** A 429's wait, else the wait until the window resets when no requests remain in it. */
export function pauseOf(status: number, headers: Headers | undefined): number | null {
  if (status === 429) return retryAfterMs(headers) ?? DEFAULT_429_PAUSE_MS;
  if (headers?.get('x-ratelimit-remaining-requests') === '0') {
    return durationMs(headers.get('x-ratelimit-reset-requests'));
  }
  if (headers?.get('anthropic-ratelimit-requests-remaining') === '0') {
    const at = Date.parse(headers.get('anthropic-ratelimit-requests-reset') ?? '');
    return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
  }
  return null;
}

/** A 429 without `retry-after`: a second, then the next answer says more. */
const DEFAULT_429_PAUSE_MS = 1_000;

/** OpenAI's reset durations: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. */
export function durationMs(text: string | null): number | null {
  if (!text) return null;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0) return null;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
  return Math.ceil(
    parts.reduce((ms, [, n, u]) => ms + Number(n) * unit[u as keyof typeof unit], 0),
  );
}
