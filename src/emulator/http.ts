import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, badRequest, invalidValue } from './errors.js';
import { randomId } from './random.js';

const MAX_JSON_BYTES = 1024 * 1024;

/**
 * Responses whose call took effect but whose answer is lost on the wire (fault `reset_after`):
 * the case where a client that simply retries a create makes a second, billed batch.
 */
export const dropAnswer = new WeakSet<ServerResponse>();

/**
 * Successful answers rewritten on their way out, for an API served by another's routes
 * (Together's by OpenAI's); errors keep the route's words.
 */
export const reshapeAnswer = new WeakMap<ServerResponse, (body: unknown) => unknown>();

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (dropAnswer.has(res)) {
    res.socket?.destroy();
    return;
  }
  const reshape = status < 400 ? reshapeAnswer.get(res) : undefined;
  const text = JSON.stringify(reshape ? reshape(body) : body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': randomId('req_'),
    'openai-version': '2020-10-01',
    ...headers,
  });
  res.end(text);
}

/** A JSON request body, read with a size cap; answers like OpenAI when it does not parse. */
export async function readJson(
  req: IncomingMessage,
  maxBytes = MAX_JSON_BYTES,
): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes)
      throw new ApiError(413, 'Request body too large.', 'invalid_request_error');
    chunks.push(chunk);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // Answered below, like any body that is not a JSON object.
  }
  throw badRequest(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
  );
}

/** An integer query parameter within bounds, or its default when absent. */
export function intParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw badRequest(`Invalid '${name}': expected an integer between ${min} and ${max}.`, name);
  }
  return value;
}

/** An `expires_after`-style policy, `{anchor: 'created_at', seconds}`, checked as OpenAI does. */
export function expirySeconds(param: string, anchor: unknown, seconds: unknown): number {
  if (anchor !== 'created_at') throw invalidValue(`${param}.anchor`, `expected 'created_at'.`);
  if (
    typeof seconds !== 'number' ||
    !Number.isInteger(seconds) ||
    seconds < 3600 ||
    seconds > 2_592_000
  ) {
    throw invalidValue(`${param}.seconds`, 'expected an integer between 3600 and 2592000.');
  }
  return seconds;
}
