import type { IncomingMessage } from 'node:http';
import type { Dialect } from '../context.js';
import { ApiError } from '../errors.js';
import { randomId } from '../random.js';

/** Anthropic's error type for an HTTP status (https://docs.anthropic.com/en/api/errors). */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/**
 * Anthropic's error object, `{type: 'error', error: {type, message}}`, for an error the
 * emulator raised in OpenAI's terms: the type follows from the status, as at Anthropic.
 */
export function anthropicErrorBody(status: number, message: string, requestId: string | null) {
  return {
    type: 'error',
    error: { type: anthropicErrorType(status), message },
    request_id: requestId,
  };
}

/**
 * Anthropic's headers and error shape. A key (when the server checks keys at all): the reference
 * names `x-api-key`, the official SDK (1.16) sends its API key as `Authorization: Bearer`, so
 * either will do; and `anthropic-version`, on every call.
 */
export const ANTHROPIC: Dialect = {
  authorized: (req: IncomingMessage) =>
    Boolean(req.headers['x-api-key']) || /^Bearer \S+/.test(req.headers.authorization ?? ''),
  missingKey: () => new ApiError(401, 'x-api-key header is required', 'authentication_error'),
  checkRequest(req: IncomingMessage) {
    if (!req.headers['anthropic-version']) {
      throw new ApiError(400, 'anthropic-version: header is required', 'invalid_request_error');
    }
  },
  errorBody: (err) => anthropicErrorBody(err.status, err.message, randomId('req_')),
};
