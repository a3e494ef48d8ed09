import OpenAI from 'openai';

/** OpenAI settings, from the SDK's own environment variables unless given. */
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

export function openAIConfigFromEnv(env: NodeJS.ProcessEnv = process.env): OpenAIConfig | null {
  if (!env.OPENAI_API_KEY) return null;
  return {
    apiKey: env.OPENAI_API_KEY,
    baseURL: env.OPENAI_BASE_URL || undefined,
    organization: env.OPENAI_ORG_ID || undefined,
    project: env.OPENAI_PROJECT_ID || undefined,
    webhookSecret: env.OPENAI_WEBHOOK_SECRET || undefined,
  };
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
