import { loadConfig, type NightshiftConfig, WORKER_MALLOC_ENV } from '../config.js';
import { emulatorBanner, providerEndpoints } from '../dev/banner.js';
import { anyProvider, emulatorProviderConfigs, startLocalEmulator } from '../dev/emulator.js';
import { untilStopSignal } from '../dev/signals.js';
import { runWorker } from '../dev/worker.js';
import type { Emulator } from '../emulator/index.js';
import { collectEveryHour, parseAge } from '../gc.js';
import type { ProviderConfigs } from '../providers/registry.js';
import { connectClient } from '../temporal/connection.js';
import { paintFor } from '../terminal.js';
import { startWebhookReceiver, type WebhookReceiver } from '../webhooks/receiver.js';
import { restartWithMallocSettings } from '../worker.js';
import { UsageError } from './common.js';
import { checkedStore } from './store.js';
import type { WorkerFlags } from './worker.js';

/** `nightshift worker`: a worker against TEMPORAL_ADDRESS until Ctrl-C. */
export async function worker(flags: WorkerFlags): Promise<void> {
  const config = loadConfig();
  const { temporal, taskQueue } = config;
  const webhookSecret = config.providers.openai?.webhookSecret;
  if (flags.webhookPort !== undefined && !webhookSecret) {
    throw new UsageError('--webhook-port needs OPENAI_WEBHOOK_SECRET (whsec_…)');
  }
  const gcAge = flags.gcOlderThan === undefined ? null : parseAge(flags.gcOlderThan);
  if (flags.gcOlderThan !== undefined && gcAge === null) {
    throw new UsageError(`--gc-older-than: expected 30d, 12h or 90m, got ${flags.gcOlderThan}`);
  }
  // Before anything is opened or printed: the process may start over (it returns on Node 20).
  if (config.mallocRestart) restartWithMallocSettings(config.mallocRestart);
  // Before anything else: a worker that cannot reach the store would fail every activity.
  const store = await checkedStore(config);
  if (config.mallocRestart) {
    const settings = Object.entries(WORKER_MALLOC_ENV).map(([k, v]) => `${k}=${v}`);
    console.error(
      `hint: start workers with ${settings.join(' ')} (a quarter less memory; ` +
        'on Node 22.15 and later the worker sets them itself)',
    );
  }
  const { providers, emulator } = await providersOf(flags, config);
  if (!emulator)
    for (const line of providerEndpoints(providers)) console.error(`batches go to ${line}`);
  let webhooks: WebhookReceiver | null = null;
  let stopGc = async () => {};
  try {
    const running = await runWorker({
      temporal,
      taskQueue,
      providers,
      store,
      runtime: { metricsPort: flags.metricsPort, jsonLogs: flags.jsonLogs, debug: config.debug },
    });
    if (flags.webhookPort !== undefined && webhookSecret) {
      webhooks = await startWebhookReceiver({
        temporal: await connectClient(temporal),
        secret: webhookSecret,
        port: flags.webhookPort,
        host: '0.0.0.0',
        log: (event) => console.error(JSON.stringify(event)),
      });
      console.error(`receiving OpenAI batch webhooks on port ${flags.webhookPort}`);
    }
    if (gcAge !== null) {
      const log = (line: string) => console.error(line);
      const client = await connectClient(temporal);
      const stopCollecting = collectEveryHour(client, store, gcAge, log);
      stopGc = async () => {
        stopCollecting();
        await client.connection.close();
      };
    }
    if (flags.metricsPort !== undefined) {
      console.error(`Prometheus metrics on http://0.0.0.0:${flags.metricsPort}/metrics`);
    }
    // Listening before saying it polls: a Ctrl-C right after must stop it in order.
    const stopped = untilStopSignal();
    console.error(
      `worker polling task queue "${taskQueue}" on ${temporal.address} ` +
        `(namespace ${temporal.namespace}); artifacts in ${store.location}. Ctrl-C stops it.`,
    );
    await Promise.race([stopped, running.done]);
    console.error('stopping the worker…');
    await running.stop();
  } finally {
    await stopGc();
    await webhooks?.close();
    await emulator?.close();
  }
}

async function providersOf(
  flags: WorkerFlags,
  config: NightshiftConfig,
): Promise<{ providers: ProviderConfigs; emulator: Emulator | null }> {
  if (flags.emulator) {
    const emulator = await startLocalEmulator({
      port: flags.emulatorPort,
      perRequestMs: config.emulatorPerRequestMs,
    });
    console.error(paintFor(process.stderr)('yellow', emulatorBanner(emulator.url, '--emulator')));
    return { providers: emulatorProviderConfigs(emulator), emulator };
  }
  if (!anyProvider(config.providers)) {
    throw new UsageError(
      'no provider has credentials (OPENAI_API_KEY, AZURE_OPENAI_API_KEY, …): set one, ' +
        'or run `nightshift worker --emulator` (fake responses)',
    );
  }
  return { providers: config.providers, emulator: null };
}
