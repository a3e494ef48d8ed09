import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Emulator, EmulatorTiming } from '../emulator/index.js';
import type { ProviderConfigs } from '../providers/registry.js';
import { LocalArtifactStore } from '../store/local.js';
import { connectClient } from '../temporal/connection.js';
import { startWebhookReceiver } from '../webhooks/receiver.js';
import { anyProvider, emulatorProviderConfigs, startLocalEmulator } from './emulator.js';
import { DEV_PORT, DEV_UI_PORT, PortInUseError } from './ports.js';
import { startTemporalDevServer, temporalReachable } from './temporal-dev-server.js';
import { runWorker } from './worker.js';

export interface DevStackOptions {
  /** NIGHTSHIFT_HOME: the SQLite database and the artifacts live here, so runs survive. */
  home: string;
  port?: number;
  uiPort?: number;
  /** 0 or absent: any free port. */
  emulatorPort?: number;
  emulatorTiming?: EmulatorTiming;
  taskQueue: string;
  /** The real providers; when none has credentials, the emulator serves them all. */
  providers: ProviderConfigs;
  /** NIGHTSHIFT_EMULATOR_PER_REQUEST_MS: the emulator's pace, over `emulatorTiming`'s. */
  emulatorPerRequestMs?: number | null;
  /** NIGHTSHIFT_ENCRYPTION_KEYS: the payload codec of the worker and the webhook receiver. */
  encryptionKeys?: string;
  /** NIGHTSHIFT_DEBUG: the worker logs in full. */
  debug?: boolean;
  log?: (line: string) => void;
}

export interface DevStack {
  address: string;
  uiUrl: string;
  /** Null when requests go to the real OpenAI API. */
  emulator: Emulator | null;
  /** What the worker calls: the emulator, or the providers it was given. */
  providers: ProviderConfigs;
  /** Stops the worker, the emulator and the server, in that order. */
  stop(): Promise<void>;
}

async function ensureFree(port: number, what: string, flag: string): Promise<void> {
  if (await temporalReachable(`127.0.0.1:${port}`)) {
    throw new PortInUseError(
      `port ${port} (${what}) is already in use — is another \`nightshift dev\` running? ` +
        `Stop it, or pick another port with ${flag}.`,
    );
  }
}

/** Temporal dev server (SQLite under `home`), the emulator unless a key is set, and a worker. */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const port = options.port ?? DEV_PORT;
  const uiPort = options.uiPort ?? DEV_UI_PORT;
  await ensureFree(port, 'Temporal', '--port');
  await ensureFree(uiPort, 'Temporal UI', '--ui-port');
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse().splice(0)) await s();
  };
  try {
    const server = await startTemporalDevServer({
      dbFile: join(options.home, 'temporal.db'),
      port,
      uiPort,
      log: options.log,
    });
    stops.push(() => server.stop());
    const { encryptionKeys } = options;
    const local = {
      address: server.address,
      namespace: 'default',
      ...(encryptionKeys ? { encryptionKeys } : {}),
    };
    let emulator: Emulator | null = null;
    let { providers } = options;
    if (!anyProvider(providers)) {
      // The emulator's finished batches reach the waiting parts through signed webhooks, as
      // OpenAI's would through `nightshift worker --webhook-port`: the whole path, end to end.
      const temporal = await connectClient(local);
      stops.push(() => temporal.connection.close());
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      const receiver = await startWebhookReceiver({ temporal, secret });
      stops.push(() => receiver.close());
      const started = await startLocalEmulator({
        port: options.emulatorPort ?? 0,
        // Beside Temporal's database, so batches of runs in progress outlive a restart too.
        dataDir: join(options.home, 'emulator'),
        timing: options.emulatorTiming,
        perRequestMs: options.emulatorPerRequestMs,
        webhook: { url: receiver.url, secret },
      });
      stops.push(() => started.close());
      emulator = started;
      providers = emulatorProviderConfigs(started);
    }
    const worker = await runWorker({
      temporal: local,
      taskQueue: options.taskQueue,
      runtime: { debug: options.debug },
      providers,
      store: new LocalArtifactStore(options.home),
    });
    stops.push(() => worker.stop());
    return { address: server.address, uiUrl: server.uiUrl, emulator, providers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
