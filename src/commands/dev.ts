import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { devBanner } from '../dev/banner.js';
import { DEV_PORT, DEV_UI_PORT } from '../dev/ports.js';
import { untilStopSignal } from '../dev/signals.js';
import { paintFor } from '../terminal.js';
import { examples, port } from './common.js';

interface DevFlags {
  port: number;
  uiPort: number;
  emulatorPort: number;
}

async function dev(flags: DevFlags): Promise<void> {
  const { startDevStack } = await import('../dev/stack.js');
  const config = loadConfig();
  const { home, taskQueue } = config;
  const stack = await startDevStack({
    home,
    port: flags.port,
    uiPort: flags.uiPort,
    emulatorPort: flags.emulatorPort,
    emulatorPerRequestMs: config.emulatorPerRequestMs,
    encryptionKeys: config.temporal.encryptionKeys,
    debug: config.debug,
    taskQueue,
    providers: config.providers,
    log: (line) => console.error(line),
  });
  const emulatorUrl = stack.emulator?.url ?? null;
  // Listening before the banner says "ready": a Ctrl-C right after it must stop the stack in
  // order, not kill the process.
  const stopped = untilStopSignal();
  console.log(devBanner({ ...stack, emulatorUrl, home, taskQueue }, paintFor(process.stdout)));
  await stopped;
  console.error('stopping the worker, the emulator and Temporal…');
  await stack.stop();
  console.error('stopped.');
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
    .action(dev);
}
