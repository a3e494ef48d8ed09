import type { Command } from 'commander';
import { defaultArtifactStore } from '../artifacts.js';
import { nightshiftHome } from '../config.js';
import { emulatorBanner, emulatorOpenAIConfig, startLocalEmulator } from '../dev/emulator.js';
import { untilStopSignal } from '../dev/signals.js';
import { runWorker } from '../dev/worker.js';
import type { Emulator } from '../emulator/index.js';
import { type OpenAIConfig, openAIConfigFromEnv } from '../providers/openai/client.js';
import { connectClient, temporalConfigFromEnv } from '../temporal/connection.js';
import { startWebhookReceiver, type WebhookReceiver } from '../webhooks/receiver.js';
import { DEFAULT_TASK_QUEUE } from '../worker.js';
import { examples, port, UsageError } from './common.js';

interface WorkerFlags {
  emulator?: boolean;
  emulatorPort: number;
  metricsPort?: number;
  jsonLogs?: boolean;
  webhookPort?: number;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'run a Nightshift worker against TEMPORAL_ADDRESS (TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, ' +
        'TEMPORAL_TLS_CERT/KEY, NIGHTSHIFT_TASK_QUEUE, NIGHTSHIFT_HOME); needs OPENAI_API_KEY',
    )
    .option('--emulator', 'send batches to an in-process emulator instead of OpenAI (fake)')
    .option('--emulator-port <n>', 'port of that emulator (0: any free one)', port, 0)
    .option('--metrics-port <n>', 'serve Prometheus metrics at http://0.0.0.0:<n>/metrics', port)
    .option('--json-logs', 'log one JSON object per line (with run, part and batch ids)')
    .option(
      '--webhook-port <n>',
      "also receive OpenAI's batch webhooks on this port (needs OPENAI_WEBHOOK_SECRET)",
      port,
    )
    .addHelpText(
      'after',
      examples(
        'OPENAI_API_KEY=sk-... TEMPORAL_ADDRESS=temporal.internal:7233 nightshift worker',
        'TEMPORAL_ADDRESS=ns.acct.tmprl.cloud:7233 TEMPORAL_NAMESPACE=ns.acct \\' +
          '      TEMPORAL_API_KEY=... OPENAI_API_KEY=sk-... nightshift worker',
        'nightshift worker --emulator',
        'OPENAI_WEBHOOK_SECRET=whsec_... nightshift worker --webhook-port 8089 --metrics-port 9464',
      ),
    )
    .action(async (flags: WorkerFlags) => {
      const webhookSecret = process.env.OPENAI_WEBHOOK_SECRET;
      if (flags.webhookPort !== undefined && !webhookSecret) {
        throw new UsageError('--webhook-port needs OPENAI_WEBHOOK_SECRET (whsec_…)');
      }
      const { openai, emulator } = await provider(flags);
      const temporal = temporalConfigFromEnv();
      const taskQueue = process.env.NIGHTSHIFT_TASK_QUEUE || DEFAULT_TASK_QUEUE;
      let webhooks: WebhookReceiver | null = null;
      try {
        const worker = await runWorker({
          temporal,
          taskQueue,
          openai,
          store: defaultArtifactStore(),
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
            `(namespace ${temporal.namespace}); artifacts in ${nightshiftHome()}. Ctrl-C stops it.`,
        );
        await Promise.race([untilStopSignal(), worker.done]);
        console.error('stopping the worker…');
        await worker.stop();
      } finally {
        await webhooks?.close();
        await emulator?.close();
      }
    });
}

async function provider(
  flags: WorkerFlags,
): Promise<{ openai: OpenAIConfig; emulator: Emulator | null }> {
  if (flags.emulator) {
    const emulator = await startLocalEmulator({ port: flags.emulatorPort });
    console.error(emulatorBanner(emulator, '--emulator'));
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
