// `nightshift demo` as --help shows it; demo-action.ts, loaded when it runs, does the work.
import type { Command } from 'commander';
import { examples } from './common.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'one-shot tour: starts what `dev` starts (always with the emulator), submits a bundled ' +
        'job (300 product reviews to classify), shows progress and the summary, then stops',
    )
    .option('--keep', 'keep the stack running afterwards, to browse the run in the UI')
    .addHelpText('after', examples('npx nightshift demo', 'npx nightshift demo --keep'))
    .action(async (flags: { keep?: boolean }) => {
      const { demo } = await import('./demo-action.js');
      await demo(flags);
    });
}
