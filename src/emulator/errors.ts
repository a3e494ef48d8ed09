export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error the server answers with, in OpenAI's `{"error": {...}}` shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    return errorBody(this.message, this.type, this.param, this.code);
  }
}

export function errorBody(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): ErrorBody {
  return { error: { message, type, param, code } };
}

export function badRequest(
  message: string,
  param: string | null = null,
  code: string | null = null,
) {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

export function notFound(message: string, param: string | null = 'id') {
  return new ApiError(404, message, 'invalid_request_error', param);
}

export function missingParameter(param: string) {
  return badRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

export function invalidValue(param: string, detail: string) {
  return badRequest(`Invalid value for '${param}': ${detail}`, param, 'invalid_value');
}

/**
 * What OpenAI answers for a status it returns on its own: used for injected HTTP faults and
 * for injected per-line failures inside a batch.
 */
export function statusErrorBody(status: number): ErrorBody {
  switch (status) {
    case 429:
      return errorBody(
        'Rate limit reached for requests. Please try again later.',
        'requests',
        null,
        'rate_limit_exceeded',
      );
    case 503:
      return errorBody(
        'The server is overloaded or not ready yet.',
        'server_error',
        null,
        'service_unavailable',
      );
    case 400:
      return errorBody('Invalid request.', 'invalid_request_error');
    default:
      return status >= 500
        ? errorBody(
            'The server had an error while processing your request. Sorry about that!',
            'server_error',
          )
        : errorBody(`Request failed with status ${status}.`, 'invalid_request_error');
  }
}
