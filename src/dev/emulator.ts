import type { ProviderName } from '../../workflows/provider-names.js';
import { type Emulator, type EmulatorTiming, startEmulator } from '../emulator/index.js';
import type { OpenAIConfig } from '../providers/openai/client.js';
import type { ProviderConfigs } from '../providers/registry.js';
import { type CompatibleProfile, DEFAULT_AZURE_API_VERSION } from '../providers/settings.js';

export interface LocalEmulatorOptions {
  port?: number;
  dataDir?: string;
  timing?: EmulatorTiming;
  /** NIGHTSHIFT_EMULATOR_PER_REQUEST_MS: overrides the timing's pace, to watch batches. */
  perRequestMs?: number | null;
  /** Where to send signed `batch.*` events, as OpenAI does. */
  webhook?: { url: string; secret: string };
}

/**
 * The emulator of the embedded stack. Its "24 h" completion window is an hour, so a large file
 * completes instead of expiring; a slower pace per request lets one watch batches, or stop a
 * stack while one is in progress.
 */
export async function startLocalEmulator(options: LocalEmulatorOptions = {}): Promise<Emulator> {
  const { perRequestMs } = options;
  return startEmulator({
    port: options.port ?? 0,
    dataDir: options.dataDir,
    timing: {
      completionWindowMs: 60 * 60_000,
      ...options.timing,
      ...(perRequestMs != null ? { perRequestMs } : {}),
    },
    webhook: options.webhook,
  });
}

/** What the OpenAI SDK needs to talk to the emulator; it checks that a key is sent, not which. */
export function emulatorOpenAIConfig(emulator: Emulator, maxRetries = 2): OpenAIConfig {
  return { apiKey: 'sk-nightshift-emulator', baseURL: `${emulator.url}/v1`, maxRetries };
}

/** Every provider pointed at the emulator, which serves each one's API under its own paths. */
export function emulatorProviderConfigs(
  emulator: Emulator,
  maxRetries = 2,
  /** The OpenAI-compatible server the emulator plays: OpenAI's API, or a profile's dialect. */
  compatibleProfile: CompatibleProfile = 'openai',
): ProviderConfigs {
  const openai = emulatorOpenAIConfig(emulator, maxRetries);
  return {
    openai,
    azure: {
      endpoint: emulator.url,
      apiKey: 'azure-nightshift-emulator',
      apiVersion: DEFAULT_AZURE_API_VERSION,
      maxRetries,
    },
    anthropic: { apiKey: 'sk-ant-nightshift-emulator', baseURL: emulator.url, maxRetries },
    gemini: { apiKey: 'gemini-nightshift-emulator', baseUrl: emulator.url },
    'openai-compatible': {
      ...openai,
      // Together's dialect is served under its own prefix; the other profiles speak OpenAI's.
      ...(compatibleProfile === 'together' ? { baseURL: `${emulator.url}/together/v1` } : {}),
      profile: compatibleProfile,
    },
  };
}

/** Whether any provider has credentials: when none has, `dev` runs the emulator. */
export function anyProvider(configs: ProviderConfigs): boolean {
  return Object.values(configs).some((config) => config != null);
}

/** The settings that point each provider's official SDK (and `nightshift worker`) at the emulator. */
export function emulatorEnvironment(url: string): Record<ProviderName, string> {
  const openai = `OPENAI_BASE_URL=${url}/v1 OPENAI_API_KEY=anything`;
  return {
    openai,
    azure: `AZURE_OPENAI_ENDPOINT=${url} AZURE_OPENAI_API_KEY=anything`,
    anthropic: `ANTHROPIC_BASE_URL=${url} ANTHROPIC_API_KEY=anything`,
    gemini: `GOOGLE_GEMINI_BASE_URL=${url} GEMINI_API_KEY=anything`,
    'openai-compatible': `${openai} NIGHTSHIFT_OPENAI_COMPATIBLE_PROFILE=openai`,
  };
}
