import OpenAI from 'openai';

/** OpenAI settings: the SDK's own environment variables, read by `loadConfig`. */
export interface OpenAIConfig {
  apiKey: string;
  baseURL?: string;
  organization?: string;
  project?: string;
  webhookSecret?: string;
  /** Per-request timeout; uploads and downloads of 200 MB files need minutes. */
  timeoutMs?: number;
  maxRetries?: number;
}

/** The one place an OpenAI client is made: every activity reaches the provider through it. */
export function createOpenAIClient(config: OpenAIConfig): OpenAI {
  return new OpenAI({
    apiKey: config.apiKey,
    baseURL: config.baseURL,
    organization: config.organization,
    project: config.project,
    webhookSecret: config.webhookSecret,
    timeout: config.timeoutMs ?? 10 * 60_000,
    maxRetries: config.maxRetries ?? 2,
  });
}
