// The synchronous APIs the batch APIs discount: OpenAI's `POST /v1/chat/completions`,
// `/v1/responses`, `/v1/embeddings`, `/v1/completions`, `/v1/moderations`, Anthropic's
// `POST /v1/messages` and Gemini's `POST /v1beta/models/{model}:generateContent`, answering the
// same bodies their batches would, one request at a time.
// They carry rate-limit headers as OpenAI documents them
// (https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers) and Anthropic
// (https://docs.anthropic.com/en/api/rate-limits#response-headers), answer 429 with `retry-after`
// past the limit (Gemini sends no such headers: its 429 carries a RetryInfo), and take a latency
// you can set, so that a client's pacing can be tested.
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ANTHROPIC } from './anthropic/errors.js';
import type { Call, Route } from './context.js';
import { ApiError, badRequest } from './errors.js';
import {
  type EmulatedEndpoint,
  fakeResponseBody,
  GEMINI_ENDPOINT,
  MESSAGES_ENDPOINT,
  requestProblem,
} from './fake-responses.js';
import { GEMINI } from './gemini/dialect.js';
import { readJson, sendJson } from './http.js';
import type { EndpointName, SyncSettings, SyncStats } from './types.js';

/**
 * The synchronous endpoints' limiter: a fixed window of `requestsPerWindow` requests, as OpenAI's
 * requests-per-minute limit behaves at its edge. Also counts what clients did with it: a request
 * that arrives while the last 429 told the client to wait ignored `retry-after`.
 */
export class SyncLimiter {
  private windowStart = 0;
  private used = 0;
  /** Until when the last 429 told the client to wait, and when that answer went out. */
  private told = { retryAt: 0, at: 0 };
  private readonly counts: SyncStats = { served: 0, rateLimited: 0, ignoredRetryAfter: 0 };

  constructor(private settings: SyncSettings) {}

  /** New settings start a new window, and forget what the last 429 told. */
  configure(settings: SyncSettings): void {
    this.settings = settings;
    this.windowStart = 0;
    this.used = 0;
    this.told = { retryAt: 0, at: 0 };
  }

  /** How long each synchronous request takes to answer. */
  latencyMs(): number {
    return this.settings.latencyMs ?? 0;
  }

  stats(): SyncStats {
    return { ...this.counts };
  }

  /** Takes a request from the window: its rate-limit headers, or the 429 it gets instead. */
  take(dialect: Api): Record<string, string> {
    const { requestsPerWindow, windowMs = 60_000 } = this.settings;
    if (requestsPerWindow === undefined) {
      this.counts.served += 1;
      return {};
    }
    const now = Date.now();
    // Requests sent before the 429 reached the client are not its fault: a little grace.
    if (now < this.told.retryAt && now > this.told.at + RETRY_GRACE_MS) {
      this.counts.ignoredRetryAfter += 1;
    }
    if (now - this.windowStart >= windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    const resetMs = this.windowStart + windowMs - now;
    if (this.used >= requestsPerWindow) {
      this.counts.rateLimited += 1;
      this.told = { retryAt: now + resetMs, at: now };
      throw new ApiError(429, RATE_LIMITED, 'requests', null, 'rate_limit_exceeded', {
        'retry-after': String(Math.ceil(resetMs / 1000)),
        'retry-after-ms': String(resetMs),
        ...limitHeaders(dialect, requestsPerWindow, 0, resetMs),
      });
    }
    this.used += 1;
    this.counts.served += 1;
    return limitHeaders(dialect, requestsPerWindow, requestsPerWindow - this.used, resetMs);
  }
}

const RETRY_GRACE_MS = 50;

/** Whose API a synchronous route speaks, which decides its headers and error words. */
type Api = 'openai' | 'anthropic' | 'gemini';
const DIALECTS = { openai: undefined, anthropic: ANTHROPIC, gemini: GEMINI } as const;
const RATE_LIMITED = 'Rate limit reached for requests. Please try again later.';

function limitHeaders(
  dialect: Api,
  limit: number,
  remaining: number,
  resetMs: number,
): Record<string, string> {
  if (dialect === 'gemini') return {};
  if (dialect === 'anthropic') {
    return {
      'anthropic-ratelimit-requests-limit': String(limit),
      'anthropic-ratelimit-requests-remaining': String(remaining),
      'anthropic-ratelimit-requests-reset': new Date(Date.now() + resetMs).toISOString(),
    };
  }
  return {
    'x-ratelimit-limit-requests': String(limit),
    'x-ratelimit-remaining-requests': String(remaining),
    // OpenAI's duration format ("1s", "6m0s", "20ms").
    'x-ratelimit-reset-requests': `${Math.max(1, Math.ceil(resetMs))}ms`,
  };
}

function syncRoute(
  name: EndpointName,
  endpoint: EmulatedEndpoint,
  dialect: Api,
  path = new RegExp(`^${endpoint}$`),
): Route {
  const routeDialect = DIALECTS[dialect];
  return {
    method: 'POST',
    path,
    name,
    ...(routeDialect ? { dialect: routeDialect } : {}),
    handler: async (call: Call) => {
      // Gemini names the model in the path (`models/{model}:generateContent`).
      const body: Record<string, unknown> = await readJson(call.req);
      if (call.id) body.model = call.id;
      const headers = call.state.sync.take(dialect);
      const latencyMs = call.state.sync.latencyMs();
      if (latencyMs > 0) await delay(latencyMs);
      const problem = requestProblem(endpoint, body);
      if (problem) throw badRequest(problem.error.message, problem.error.param, problem.error.code);
      if (endpoint !== MESSAGES_ENDPOINT && typeof body.stream === 'boolean' && body.stream) {
        throw badRequest('The emulator does not stream.', 'stream');
      }
      // The answer is a function of the request, as a batch's is of its line.
      const seed = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
      const created = Math.floor(Date.now() / 1000);
      sendJson(call.res, 200, fakeResponseBody(endpoint, body, seed, created), headers);
    },
  };
}

export const SYNC_ROUTES: Route[] = [
  syncRoute('chat.completions.create', '/v1/chat/completions', 'openai'),
  syncRoute('responses.create', '/v1/responses', 'openai'),
  syncRoute('embeddings.create', '/v1/embeddings', 'openai'),
  syncRoute('completions.create', '/v1/completions', 'openai'),
  syncRoute('moderations.create', '/v1/moderations', 'openai'),
  syncRoute('messages.create', MESSAGES_ENDPOINT, 'anthropic'),
  syncRoute(
    'gemini.models.generateContent',
    GEMINI_ENDPOINT,
    'gemini',
    /^\/v1beta\/models\/([^/:]+):generateContent$/,
  ),
];
