import { type Command, Option } from 'commander';
import { PROVIDER_NAMES, type ProviderName } from '../../workflows/provider-names.js';
import { untilStopSignal } from '../dev/signals.js';
import { examples, port } from './common.js';

export function registerEmulator(program: Command): void {
  program
    .command('emulator')
    .description(
      'serve the batch API emulator on its own (fake, nothing billed): OpenAI and Azure OpenAI ' +
        '(Files + Batch), Anthropic (Message Batches) and Gemini (Batch Mode), each under its own paths',
    )
    .option('--port <n>', 'port (0: any free one)', port, 0)
    .option(
      '--data-dir <dir>',
      'keep files and batches here, to find them (and resume running batches) on the next start; ' +
        'default: a temp dir removed on exit',
    )
    .addOption(
      new Option(
        '--provider <name>',
        "whose settings to print (default: every provider's)",
      ).choices(PROVIDER_NAMES),
    )
    .addHelpText(
      'after',
      examples(
        'nightshift emulator --port 4010',
        'nightshift emulator --provider anthropic',
        'nightshift emulator --data-dir ./.emulator   # survives restarts',
        'NIGHTSHIFT_EMULATOR_PER_REQUEST_MS=100 nightshift emulator   # slower batches',
      ),
    )
    .action(async (flags: { port: number; dataDir?: string; provider?: ProviderName }) => {
      const [{ emulatorEnvironment, startLocalEmulator }, { loadConfig }] = await Promise.all([
        import('../dev/emulator.js'),
        import('../config.js'),
      ]);
      const emulator = await startLocalEmulator({
        port: flags.port,
        dataDir: flags.dataDir,
        perRequestMs: loadConfig().emulatorPerRequestMs,
      });
      // Listening before saying it runs: a Ctrl-C right after must close it, not kill it.
      const stopped = untilStopSignal();
      const environment = Object.entries(emulatorEnvironment(emulator.url)).filter(
        ([name]) => flags.provider === undefined || name === flags.provider,
      );
      console.log(
        [
          `Batch API emulator on ${emulator.url} — no real requests, responses are fake.`,
          'Point the official SDKs (or `nightshift worker`) at it:',
          ...environment.map(([name, env]) => `  ${name}: ${env}`),
          `Control API: GET ${emulator.url}/_emulator/stats, POST /_emulator/faults (a fault rule),`,
          '  DELETE /_emulator/faults, POST /_emulator/reset',
          ...(flags.dataDir
            ? [`Files and batches are kept in ${flags.dataDir} across restarts.`]
            : []),
          'Ctrl-C stops it.',
        ].join('\n'),
      );
      await stopped;
      await emulator.close();
    });
}
