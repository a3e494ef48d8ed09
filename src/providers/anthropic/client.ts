import Anthropic from '@anthropic-ai/sdk';

/** Anthropic settings: the SDK's own environment variables, read by `loadConfig`. */
export interface AnthropicConfig {
  apiKey: string;
  /** Without `/v1`, as the SDK takes it (`ANTHROPIC_BASE_URL`). */
  baseURL?: string;
  /**
   * Per-request timeout: a create carries up to 256 MB of requests inline, so minutes, as for
   * OpenAI's uploads (results are streamed, and the timeout ends with their headers).
   */
  timeoutMs?: number;
  maxRetries?: number;
}

/** Minutes, as for OpenAI's uploads: a create carries up to 256 MB. */
export const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/** The one place an Anthropic client is made: every activity reaches the provider through it. */
export function createAnthropicClient(config: AnthropicConfig): Anthropic {
  return new Anthropic({
    apiKey: config.apiKey,
    baseURL: config.baseURL,
    timeout: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxRetries: config.maxRetries ?? 2,
  });
}
