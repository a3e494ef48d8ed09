import { join } from 'node:path';
import type { Command } from 'commander';
import { nightshiftHome } from '../config.js';
import { emulatorBanner } from '../dev/emulator.js';
import { untilStopSignal } from '../dev/signals.js';
import { DEV_PORT, DEV_UI_PORT, type DevStack, startDevStack } from '../dev/stack.js';
import { openAIConfigFromEnv } from '../providers/openai/client.js';
import { DEFAULT_TASK_QUEUE } from '../worker.js';
import { examples, port } from './common.js';

interface DevFlags {
  port: number;
  uiPort: number;
  emulatorPort: number;
}

function describeStack(stack: DevStack, home: string, taskQueue: string): string {
  const env = stack.address === `127.0.0.1:${DEV_PORT}` ? '' : `TEMPORAL_ADDRESS=${stack.address} `;
  const queue = taskQueue === DEFAULT_TASK_QUEUE ? '' : `NIGHTSHIFT_TASK_QUEUE=${taskQueue} `;
  return [
    ...(stack.emulator ? [emulatorBanner(stack.emulator)] : []),
    `Temporal     ${stack.address} (namespace default, persisted in ${join(home, 'temporal.db')})`,
    `Temporal UI  ${stack.uiUrl}  (find runs with: NightshiftStatus="running")`,
    stack.emulator
      ? `Emulator     ${stack.emulator.url}/v1`
      : 'OpenAI       the real Batch API (OPENAI_API_KEY is set): batches are billed',
    `Worker       task queue "${taskQueue}", artifacts in ${join(home, 'runs')}`,
    '',
    'Submit from another terminal:',
    `  ${env}${queue}npx nightshift submit requests.jsonl --wait --out ./out`,
    '',
    'Nightshift dev stack ready. Ctrl-C stops everything.',
  ].join('');
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description(
      'start the embedded stack: a Temporal dev server persisted to SQLite under NIGHTSHIFT_HOME ' +
        '(UI on :8233), a worker, and the Batch API emulator when OPENAI_API_KEY is unset',
    )
    .option('--port <n>', 'Temporal frontend port', port, DEV_PORT)
    .option('--ui-port <n>', 'Temporal UI port', port, DEV_UI_PORT)
    .option('--emulator-port <n>', 'emulator port (0: any free one)', port, 0)
    .addHelpText(
      'after',
      examples(
        'nightshift dev',
        'NIGHTSHIFT_HOME=./.nightshift nightshift dev --port 7300 --ui-port 8300',
        'NIGHTSHIFT_EMULATOR_PER_REQUEST_MS=50 nightshift dev   # slower fake batches, to watch',
      ),
    )
    .action(async (flags: DevFlags) => {
      const home = nightshiftHome();
      const taskQueue = process.env.NIGHTSHIFT_TASK_QUEUE || DEFAULT_TASK_QUEUE;
      const stack = await startDevStack({
        home,
        port: flags.port,
        uiPort: flags.uiPort,
        emulatorPort: flags.emulatorPort,
        taskQueue,
        openai: openAIConfigFromEnv(),
        log: (line) => console.error(line),
      });
      console.log(describeStack(stack, home, taskQueue));
      await untilStopSignal();
      console.error('stopping the worker, the emulator and Temporal…');
      await stack.stop();
      console.error('stopped.');
    });
}
