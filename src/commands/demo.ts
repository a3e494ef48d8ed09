// `nightshift demo` as --help shows it; demo-action.ts, loaded when it runs, does the work.
import { type Command, Option } from 'commander';
import { PROVIDER_NAMES, type ProviderName } from '../../workflows/provider-names.js';
import { examples } from './common.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'one-shot tour: starts what `dev` starts (always with the emulator), submits a bundled ' +
        'job (300 product reviews to classify), shows progress and the summary, then stops',
    )
    .option('--keep', 'keep the stack running afterwards, to browse the run in the UI')
    .addOption(
      new Option('--provider <name>', 'whose batch API the emulator plays (default: openai)')
        .choices(PROVIDER_NAMES)
        .default('openai'),
    )
    .addHelpText(
      'after',
      examples('npx nightshift demo', 'npx nightshift demo --provider anthropic --keep'),
    )
    .action(async (flags: { keep?: boolean; provider: ProviderName }) => {
      const { demo } = await import('./demo-action.js');
      await demo(flags);
    });
}
