import { createHash } from 'node:crypto';
import { type ErrorBody, errorBody } from './errors.js';
import { hash32, seededRandom } from './random.js';
import { structuredText } from './structured-output.js';

/**
 * Deterministic stand-ins for what OpenAI (and, for `/v1/messages`, Anthropic) returns per
 * request.
 *
 * Usage formulas (what `expectedUsage` returns, and what every body and the batch `usage` sum):
 * - input tokens = ceil(C / 4), at least 1, where C is the number of characters of all text in
 *   the request: chat `messages[].content` (strings or `text` parts), responses `instructions`
 *   and `input` (string, items with string content or `text` parts), completions `prompt`,
 *   embeddings `input` (strings; token-id arrays count one token per id);
 * - output tokens = min(cap, 16 + hash32(custom_id) % 113), where cap is the first positive
 *   integer of `max_completion_tokens`, `max_tokens`, `max_output_tokens`, else 256; embeddings
 *   have no output tokens;
 * - moderations report no usage (0 / 0), as OpenAI does not bill them;
 * - cached and reasoning tokens are always 0.
 * Generated text is `output tokens` three-letter words, so it is itself ceil(chars / 4) tokens;
 * a request for structured output (`response_format`, `text.format`) is answered with a minimal
 * instance of its schema instead, under the same usage.
 */

export const SUPPORTED_ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/responses',
  '/v1/embeddings',
  '/v1/completions',
  '/v1/moderations',
] as const;

/** OpenAI's endpoints, the ones its batch create accepts. */
export type OpenAIEndpoint = (typeof SUPPORTED_ENDPOINTS)[number];

/**
 * Gemini's `models.generateContent`, as the endpoint of the internal batches the Gemini facade
 * (`gemini/`) runs: their bodies are GenerateContentRequests with the batch's `model` added.
 */
export const GEMINI_ENDPOINT = '/v1beta/models:generateContent';

export type SupportedEndpoint = OpenAIEndpoint | typeof GEMINI_ENDPOINT;

/** Anthropic's Messages API, which only its own batches (never an OpenAI one) run. */
export const MESSAGES_ENDPOINT = '/v1/messages';

/** Every endpoint a batch's requests can go to. */
export type EmulatedEndpoint = SupportedEndpoint | typeof MESSAGES_ENDPOINT;

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

type Json = Record<string, unknown>;

const DEFAULT_OUTPUT_CAP = 256;
const DEFAULT_EMBEDDING_DIMENSIONS = 16;
const WORDS = ['the', 'sky', 'sea', 'owl', 'fox', 'oak', 'elm', 'ash', 'ink', 'sun', 'dew', 'fog'];

/** Usage in the Responses API / batch object shape (no cached or reasoning tokens here). */
export function detailedUsage(usage: Usage) {
  return {
    input_tokens: usage.input_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.output_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.total_tokens,
  };
}

export function expectedUsage(endpoint: string, body: Json, customId: string): Usage {
  if (endpoint === '/v1/moderations') return { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
  const input = inputTokens(endpoint, body);
  const output = endpoint === '/v1/embeddings' ? 0 : outputTokens(body, customId);
  return { input_tokens: input, output_tokens: output, total_tokens: input + output };
}

function inputTokens(endpoint: string, body: Json): number {
  let chars = 0;
  let tokens = 0;
  const visit = (value: unknown): void => {
    if (typeof value === 'string') chars += value.length;
    else if (typeof value === 'number') tokens++;
    else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') {
      const part = value as Json;
      visit(part.content ?? part.text ?? part.parts);
    }
  };
  switch (endpoint) {
    case '/v1/chat/completions':
      visit(body.messages);
      break;
    case MESSAGES_ENDPOINT:
      visit(body.system);
      visit(body.messages);
      break;
    case '/v1/responses':
      visit(body.instructions);
      visit(body.input);
      break;
    case '/v1/completions':
      visit(body.prompt);
      break;
    case GEMINI_ENDPOINT:
      visit(body.systemInstruction);
      visit(body.contents);
      break;
    default:
      visit(body.input);
  }
  return Math.max(1, tokens + Math.ceil(chars / 4));
}

function outputTokens(body: Json, customId: string): number {
  const gemini = body.generationConfig as Json | undefined;
  const cap = [
    body.max_completion_tokens,
    body.max_tokens,
    body.max_output_tokens,
    gemini?.maxOutputTokens,
  ].find((v): v is number => Number.isInteger(v) && (v as number) > 0);
  return Math.min(cap ?? DEFAULT_OUTPUT_CAP, wantedOutputTokens(customId));
}

function wantedOutputTokens(customId: string): number {
  return 16 + (hash32(customId) % 113);
}

const REQUIRED_PARAMS: Record<EmulatedEndpoint, string[]> = {
  '/v1/chat/completions': ['model', 'messages'],
  [MESSAGES_ENDPOINT]: ['model', 'max_tokens', 'messages'],
  '/v1/responses': ['model'],
  '/v1/embeddings': ['model', 'input'],
  '/v1/completions': ['model', 'prompt'],
  '/v1/moderations': ['input'],
  [GEMINI_ENDPOINT]: ['model', 'contents'],
};

/** The 400 OpenAI would answer this single request with, if it lacks a required parameter. */
export function requestProblem(endpoint: EmulatedEndpoint, body: Json): ErrorBody | null {
  const missing = REQUIRED_PARAMS[endpoint].find((param) => body[param] === undefined);
  if (missing === undefined) return null;
  if (missing === 'model' && endpoint !== MESSAGES_ENDPOINT)
    return errorBody('you must provide a model parameter', 'invalid_request_error');
  return errorBody(
    `Missing required parameter: '${missing}'.`,
    'invalid_request_error',
    missing,
    'missing_required_parameter',
  );
}

/**
 * The 200 body the provider would answer this request with; a pure function of its arguments.
 * `invalidOutput` (the invalid_output fault) makes a structured output miss its schema.
 */
export function fakeResponseBody(
  endpoint: EmulatedEndpoint,
  body: Json,
  customId: string,
  created: number,
  { invalidOutput = false }: { invalidOutput?: boolean } = {},
): Json {
  const usage = expectedUsage(endpoint, body, customId);
  const model = typeof body.model === 'string' ? body.model : 'omni-moderation-latest';
  const id = createHash('sha256').update(`${created}:${customId}`).digest('hex').slice(0, 24);
  const text =
    structuredText(body, customId, invalidOutput) ?? generatedText(usage.output_tokens, customId);
  const truncated = usage.output_tokens < wantedOutputTokens(customId);
  switch (endpoint) {
    case MESSAGES_ENDPOINT:
      return {
        id: `msg_${id}`,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text }],
        stop_reason: truncated ? 'max_tokens' : 'end_turn',
        stop_sequence: null,
        usage: {
          input_tokens: usage.input_tokens,
          output_tokens: usage.output_tokens,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          service_tier: 'batch',
        },
      };
    case '/v1/chat/completions':
      return {
        id: `chatcmpl-${id}`,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: null, annotations: [] },
            logprobs: null,
            finish_reason: truncated ? 'length' : 'stop',
          },
        ],
        usage: {
          prompt_tokens: usage.input_tokens,
          completion_tokens: usage.output_tokens,
          total_tokens: usage.total_tokens,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
          },
        },
        service_tier: 'default',
        system_fingerprint: 'fp_emulator',
      };
    case '/v1/responses':
      return {
        id: `resp_${id}`,
        object: 'response',
        created_at: created,
        status: truncated ? 'incomplete' : 'completed',
        error: null,
        incomplete_details: truncated ? { reason: 'max_output_tokens' } : null,
        instructions: body.instructions ?? null,
        max_output_tokens: body.max_output_tokens ?? null,
        model,
        output: [
          {
            type: 'message',
            id: `msg_${id}`,
            status: truncated ? 'incomplete' : 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
          },
        ],
        parallel_tool_calls: true,
        previous_response_id: null,
        temperature: body.temperature ?? 1,
        top_p: body.top_p ?? 1,
        tool_choice: 'auto',
        tools: [],
        text: { format: { type: 'text' } },
        truncation: 'disabled',
        usage: detailedUsage(usage),
        metadata: body.metadata ?? {},
      };
    case '/v1/completions':
      return {
        id: `cmpl-${id}`,
        object: 'text_completion',
        created,
        model,
        choices: [{ text, index: 0, logprobs: null, finish_reason: truncated ? 'length' : 'stop' }],
        usage: {
          prompt_tokens: usage.input_tokens,
          completion_tokens: usage.output_tokens,
          total_tokens: usage.total_tokens,
        },
      };
    case '/v1/embeddings':
      return {
        object: 'list',
        data: listOf(body.input).map((_, index) => ({
          object: 'embedding',
          index,
          embedding: embedding(`${customId}:${index}`, body),
        })),
        model,
        usage: { prompt_tokens: usage.input_tokens, total_tokens: usage.input_tokens },
      };
    case GEMINI_ENDPOINT:
      return {
        candidates: [
          {
            content: { role: 'model', parts: [{ text }] },
            finishReason: truncated ? 'MAX_TOKENS' : 'STOP',
            index: 0,
          },
        ],
        usageMetadata: {
          promptTokenCount: usage.input_tokens,
          candidatesTokenCount: usage.output_tokens,
          totalTokenCount: usage.total_tokens,
        },
        modelVersion: model,
        responseId: id,
      };
    case '/v1/moderations':
      return {
        id: `modr-${id}`,
        model,
        results: listOf(body.input).map(() => ({
          flagged: false,
          categories: Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, false])),
          category_scores: Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, 0.0001])),
        })),
      };
  }
}

const MODERATION_CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/instructions',
  'self-harm/intent',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
];

function generatedText(tokens: number, customId: string): string {
  const random = seededRandom(customId);
  return Array.from(
    { length: tokens },
    () => WORDS[Math.floor(random() * WORDS.length)] as string,
  ).join(' ');
}

/** One embedding per string input, or one for a token-id array. */
function listOf(input: unknown): unknown[] {
  if (Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number') return input;
  return [input];
}

function embedding(key: string, body: Json): number[] | string {
  const dims =
    Number.isInteger(body.dimensions) && (body.dimensions as number) > 0
      ? (body.dimensions as number)
      : DEFAULT_EMBEDDING_DIMENSIONS;
  const random = seededRandom(key);
  const raw = Array.from({ length: dims }, () => random() * 2 - 1);
  const norm = Math.hypot(...raw) || 1;
  const vector = raw.map((v) => Math.round((v / norm) * 1e6) / 1e6);
  return body.encoding_format === 'base64'
    ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
    : vector;
}
