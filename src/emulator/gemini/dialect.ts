import type { Dialect } from '../context.js';
import { ApiError } from '../errors.js';

/** google.rpc.Code names by HTTP status, as Google APIs put them in `error.status`. */
const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  412: 'FAILED_PRECONDITION',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? (code >= 500 ? 'INTERNAL' : 'UNKNOWN');
}

/** An error Google words itself (the `type` slot carries the google.rpc status name). */
export function googleError(code: number, message: string, status = statusName(code)): ApiError {
  return new ApiError(code, message, status);
}

/**
 * Gemini's key check (`x-goog-api-key`, or `?key=`) and error shape,
 * `{error: {code, message, status}}`. Errors the shared code raises in OpenAI's words (a file not
 * found, an injected 429) keep their message and get Google's status name; a `retry-after` is
 * also told the way Google tells it, as a RetryInfo detail (the SDK keeps no response headers).
 */
export const GEMINI: Dialect = {
  authorized: (req, query) => Boolean(req.headers['x-goog-api-key'] || query.get('key')),
  missingKey: () =>
    googleError(
      403,
      "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    ),
  errorBody: (err) => {
    const named = Object.values(STATUS_NAMES).includes(err.type);
    const retryMs = err.headers['retry-after-ms'];
    return {
      error: {
        code: err.status,
        message: err.message,
        status: named ? err.type : statusName(err.status),
        ...(retryMs === undefined
          ? {}
          : {
              details: [
                {
                  '@type': 'type.googleapis.com/google.rpc.RetryInfo',
                  retryDelay: `${Number(retryMs) / 1000}s`,
                },
              ],
            }),
      },
    };
  },
};
