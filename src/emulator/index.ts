import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen } from '../listen.js';
import { EmulatorServer } from './server.js';
import type { Emulator, EmulatorOptions } from './types.js';
import { WebhookSender } from './webhooks.js';

export { expectedUsage, fakeResponseBody, type Usage } from './fake-responses.js';
export type {
  BatchStat,
  CallCount,
  Emulator,
  EmulatorOptions,
  EmulatorStats,
  EmulatorTiming,
  EndpointName,
  FaultKind,
  FaultRule,
  FaultStat,
  FileStat,
  SyncSettings,
  SyncStats,
  WebhookStat,
} from './types.js';

const DEFAULT_TIMING = {
  validatingMs: 50,
  perRequestMs: 1,
  finalizingMs: 50,
  completionWindowMs: 60_000,
  cancellingMs: 50,
};

/** OpenAI's limit for batch input files. */
const DEFAULT_MAX_FILE_BYTES = 200 * 1024 * 1024;

/**
 * Starts the OpenAI Files + Batch API emulator on loopback. Point the SDK at `${url}/v1`.
 * Prints nothing; the caller decides what to tell the user.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'nightshift-emulator-')));
  await mkdir(dataDir, { recursive: true });
  const server = await EmulatorServer.open({
    dataDir,
    timing: { ...DEFAULT_TIMING, ...options.timing },
    seed: options.seed ?? 1,
    requireAuth: options.requireAuth ?? true,
    maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    enqueuedTokenLimit: options.enqueuedTokenLimit ?? null,
    webhooks: options.webhook ? new WebhookSender(options.webhook) : null,
    persist: !ownsDataDir,
    sync: options.sync ?? {},
  });
  const { url, port } = await listen(server.http, options);
  return {
    url,
    port,
    stats: () => server.stats(),
    reset: () => {
      void server.reset();
    },
    addFault: (rule) => server.addFault(rule),
    clearFaults: () => server.clearFaults(),
    configureSync: (settings) => server.configureSync(settings),
    close: async () => {
      await server.close();
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
