import { DEFAULT_TASK_QUEUE } from '../config.js';
import { emulatorBanner, providerEndpoint } from '../dev/banner.js';
import { emulatorOpenAIConfig, startLocalEmulator } from '../dev/emulator.js';
import { untilStopSignal } from '../dev/signals.js';
import { runWorker } from '../dev/worker.js';
import type { Emulator } from '../emulator/index.js';
import { type OpenAIConfig, openAIConfigFromEnv } from '../providers/openai/client.js';
import { connectClient, temporalConfigFromEnv } from '../temporal/connection.js';
import { paintFor } from '../terminal.js';
import { startWebhookReceiver, type WebhookReceiver } from '../webhooks/receiver.js';
import { UsageError } from './common.js';
import { checkedStore } from './store.js';
import type { WorkerFlags } from './worker.js';

/** `nightshift worker`: a worker against TEMPORAL_ADDRESS until Ctrl-C. */
export async function worker(flags: WorkerFlags): Promise<void> {
  const webhookSecret = process.env.OPENAI_WEBHOOK_SECRET;
  if (flags.webhookPort !== undefined && !webhookSecret) {
    throw new UsageError('--webhook-port needs OPENAI_WEBHOOK_SECRET (whsec_…)');
  }
  // Before anything else: a worker that cannot reach the store would fail every activity.
  const store = await checkedStore();
  const { openai, emulator } = await provider(flags);
  if (!emulator) console.error(`batches go to ${providerEndpoint(openai)}`);
  const temporal = temporalConfigFromEnv();
  const taskQueue = process.env.NIGHTSHIFT_TASK_QUEUE || DEFAULT_TASK_QUEUE;
  let webhooks: WebhookReceiver | null = null;
  try {
    const running = await runWorker({
      temporal,
      taskQueue,
      openai,
      store,
      runtime: { metricsPort: flags.metricsPort, jsonLogs: flags.jsonLogs },
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
    if (flags.metricsPort !== undefined) {
      console.error(`Prometheus metrics on http://0.0.0.0:${flags.metricsPort}/metrics`);
    }
    console.error(
      `worker polling task queue "${taskQueue}" on ${temporal.address} ` +
        `(namespace ${temporal.namespace}); artifacts in ${store.location}. Ctrl-C stops it.`,
    );
    await Promise.race([untilStopSignal(), running.done]);
    console.error('stopping the worker…');
    await running.stop();
  } finally {
    await webhooks?.close();
    await emulator?.close();
  }
}

async function provider(
  flags: WorkerFlags,
): Promise<{ openai: OpenAIConfig; emulator: Emulator | null }> {
  if (flags.emulator) {
    const emulator = await startLocalEmulator({ port: flags.emulatorPort });
    console.error(paintFor(process.stderr)('yellow', emulatorBanner(emulator.url, '--emulator')));
    return { openai: emulatorOpenAIConfig(emulator), emulator };
  }
  const openai = openAIConfigFromEnv();
  if (!openai) {
    throw new UsageError(
      'OPENAI_API_KEY is not set: set it, or run `nightshift worker --emulator` (fake responses)',
    );
  }
  return { openai, emulator: null };
}
