import type { Command } from 'commander';
import { untilStopSignal } from '../dev/signals.js';
import { examples, port } from './common.js';

export function registerEmulator(program: Command): void {
  program
    .command('emulator')
    .description('serve the OpenAI Files + Batch API emulator on its own (fake, nothing billed)')
    .option('--port <n>', 'port (0: any free one)', port, 0)
    .option(
      '--data-dir <dir>',
      'keep files and batches here, to find them (and resume running batches) on the next start; ' +
        'default: a temp dir removed on exit',
    )
    .addHelpText(
      'after',
      examples(
        'nightshift emulator --port 4010',
        'nightshift emulator --data-dir ./.emulator   # survives restarts',
        'NIGHTSHIFT_EMULATOR_PER_REQUEST_MS=100 nightshift emulator   # slower batches',
      ),
    )
    .action(async (flags: { port: number; dataDir?: string }) => {
      const [{ startLocalEmulator }, { loadConfig }] = await Promise.all([
        import('../dev/emulator.js'),
        import('../config.js'),
      ]);
      const emulator = await startLocalEmulator({
        port: flags.port,
        dataDir: flags.dataDir,
        perRequestMs: loadConfig().emulatorPerRequestMs,
      });
      console.log(
        [
          `Batch API emulator on ${emulator.url}/v1 — no real requests, responses are fake.`,
          'Point any OpenAI SDK (or `nightshift worker`) at it:',
          `  OPENAI_BASE_URL=${emulator.url}/v1 OPENAI_API_KEY=anything`,
          `Control API: GET ${emulator.url}/_emulator/stats, POST /_emulator/faults (a fault rule),`,
          '  DELETE /_emulator/faults, POST /_emulator/reset',
          ...(flags.dataDir
            ? [`Files and batches are kept in ${flags.dataDir} across restarts.`]
            : []),
          'Ctrl-C stops it.',
        ].join('\n'),
      );
      await untilStopSignal();
      await emulator.close();
    });
}
