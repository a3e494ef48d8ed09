// `nightshift worker` as --help shows it; worker-action.ts, loaded when it runs, does the work.
import type { Command } from 'commander';
import { examples, port } from './common.js';

export interface WorkerFlags {
  emulator?: boolean;
  emulatorPort: number;
  metricsPort?: number;
  jsonLogs?: boolean;
  webhookPort?: number;
  gcOlderThan?: string;
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
    .option(
      '--gc-older-than <age>',
      'also remove, at start and every hour, the artifacts of runs that ended this long ago (30d)',
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
      const { worker } = await import('./worker-action.js');
      await worker(flags);
    });
}
