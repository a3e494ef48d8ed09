import { type Emulator, type EmulatorTiming, startEmulator } from '../emulator/index.js';
import type { OpenAIConfig } from '../providers/openai/client.js';

export interface LocalEmulatorOptions {
  port?: number;
  dataDir?: string;
  /** Defaults under what NIGHTSHIFT_EMULATOR_PER_REQUEST_MS and the like say. */
  timing?: EmulatorTiming;
  /** Where to send signed `batch.*` events, as OpenAI does. */
  webhook?: { url: string; secret: string };
}

/**
 * The emulator's pace for the embedded stack. The "24 h" completion window is an hour, so a
 * large file completes instead of expiring; NIGHTSHIFT_EMULATOR_PER_REQUEST_MS slows batches
 * down, to watch them or to stop a stack while one is in progress.
 */
export function localEmulatorTiming(env: NodeJS.ProcessEnv = process.env): EmulatorTiming {
  const perRequestMs = Number(env.NIGHTSHIFT_EMULATOR_PER_REQUEST_MS);
  return {
    completionWindowMs: 60 * 60_000,
    ...(Number.isFinite(perRequestMs) && perRequestMs >= 0 ? { perRequestMs } : {}),
  };
}

export async function startLocalEmulator(options: LocalEmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({
    port: options.port ?? 0,
    dataDir: options.dataDir,
    timing: { ...options.timing, ...localEmulatorTiming() },
    webhook: options.webhook,
  });
}

/** What the OpenAI SDK needs to talk to the emulator; it checks that a key is sent, not which. */
export function emulatorOpenAIConfig(emulator: Emulator): OpenAIConfig {
  return { apiKey: 'sk-nightshift-emulator', baseURL: `${emulator.url}/v1`, maxRetries: 2 };
}
