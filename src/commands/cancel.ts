import type { Command } from 'commander';
import { EXIT_NOT_ALL_SUCCEEDED, examples, withNightshift } from './common.js';

export function registerCancel(program: Command): void {
  program
    .command('cancel')
    .description(
      'cancel a run: its batches are cancelled, their partial results collected, ' +
        'and the run ends "cancelled" with results written',
    )
    .argument('<id>', 'run id')
    .option('--wait', 'follow the run to its final state and print the summary')
    .addHelpText('after', examples('nightshift cancel my-run', 'nightshift cancel my-run --wait'))
    .action(async (id: string, flags: { wait?: boolean }) => {
      await withNightshift(async (nightshift) => {
        const run = nightshift.run(id);
        await run.cancel();
        console.error(`cancel requested for run ${id}`);
        if (!flags.wait) return;
        const { followRun, formatSummary } = await import('./display.js');
        const summary = await followRun(run, 500);
        console.log(formatSummary(summary));
        if (summary.status !== 'completed') process.exitCode = EXIT_NOT_ALL_SUCCEEDED;
      });
    });
}
