import { OpenAIBatchProvider } from './openai/batches.js';
import { createOpenAIClient, type OpenAIConfig } from './openai/client.js';
import type { Providers } from './provider.js';

/** Credentials by provider; a worker serves the providers it has credentials for. */
export interface ProviderConfigs {
  openai?: OpenAIConfig | null;
}

/** The providers a worker can reach, each through its official SDK. */
export function createProviders(configs: ProviderConfigs): Providers {
  return {
    ...(configs.openai
      ? { openai: new OpenAIBatchProvider(createOpenAIClient(configs.openai)) }
      : {}),
  };
}
