import type { AnthropicConfig } from './anthropic/client.js';
import type { GeminiConfig } from './gemini/client.js';
import { OPENAI_DIALECT, OpenAIBatchProvider, type OpenAIDialect } from './openai/batches.js';
import {
  type AzureConfig,
  createAzureClient,
  createOpenAIClient,
  type OpenAIConfig,
} from './openai/client.js';
import { togetherFetch } from './openai/together.js';
import { uploadingFetch } from './openai/upload-fetch.js';
import type { Providers } from './provider.js';
import type { CompatibleProfile } from './settings.js';

/** How each OpenAI-compatible profile (`settings.ts`) differs from OpenAI's own API. */
const COMPATIBLE_PROFILES: Record<CompatibleProfile, OpenAIDialect> = {
  openai: OPENAI_DIALECT,
  // Groq's Files and Batches follow OpenAI's, without file lifetimes
  // (https://console.groq.com/docs/batch).
  groq: { ...OPENAI_DIALECT, fileLifetimes: false },
  // Together's follow OpenAI's paths in other shapes (see together.ts), uploads are for
  // `batch-api`, and batches keep no metadata (https://docs.together.ai/reference/batch-create).
  together: {
    fileLifetimes: false,
    inputPurpose: 'batch-api',
    batchMetadata: false,
    fetch: togetherFetch(uploadingFetch),
  },
};

export interface CompatibleConfig extends OpenAIConfig {
  profile: CompatibleProfile;
}

/** Credentials by provider; a worker serves the providers it has credentials for. */
export interface ProviderConfigs {
  openai?: OpenAIConfig | null;
  azure?: AzureConfig | null;
  anthropic?: AnthropicConfig | null;
  gemini?: GeminiConfig | null;
  'openai-compatible'?: CompatibleConfig | null;
}

/**
 * The providers a worker can reach, each through its official SDK. The Anthropic and Gemini SDKs
 * are loaded only for a worker with their credentials: ~11 MB of every other worker's memory.
 */
export async function createProviders(configs: ProviderConfigs): Promise<Providers> {
  const { openai, azure, anthropic, gemini } = configs;
  const compatible = configs['openai-compatible'];
  return {
    ...(openai ? { openai: new OpenAIBatchProvider(createOpenAIClient(openai)) } : {}),
    ...(azure
      ? {
          // Azure's batch guide names no file lifetimes for every API version it serves.
          azure: new OpenAIBatchProvider(createAzureClient(azure), 'azure', {
            ...OPENAI_DIALECT,
            fileLifetimes: false,
          }),
        }
      : {}),
    ...(anthropic ? { anthropic: await anthropicProvider(anthropic) } : {}),
    ...(gemini ? { gemini: await geminiProvider(gemini) } : {}),
    ...(compatible
      ? {
          'openai-compatible': compatibleProvider(compatible),
        }
      : {}),
  };
}

function compatibleProvider(config: CompatibleConfig): OpenAIBatchProvider {
  const dialect: OpenAIDialect = COMPATIBLE_PROFILES[config.profile];
  return new OpenAIBatchProvider(
    createOpenAIClient(config, dialect.fetch),
    'openai-compatible',
    dialect,
  );
}

async function anthropicProvider(config: AnthropicConfig) {
  const [{ AnthropicBatchProvider }, { createAnthropicClient }] = await Promise.all([
    import('./anthropic/batches.js'),
    import('./anthropic/client.js'),
  ]);
  return new AnthropicBatchProvider(createAnthropicClient(config));
}

async function geminiProvider(config: GeminiConfig) {
  const [{ GeminiBatchProvider }, { createGeminiClient }] = await Promise.all([
    import('./gemini/batches.js'),
    import('./gemini/client.js'),
  ]);
  return new GeminiBatchProvider(createGeminiClient(config));
}
