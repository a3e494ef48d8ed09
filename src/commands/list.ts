import type { Command } from 'commander';
import { examples, positiveInt, withNightshift } from './common.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('recent runs, newest first, with their status (the NightshiftStatus attribute)')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .option('--json', 'one JSON object per line')
    .addHelpText('after', examples('nightshift list', 'nightshift list --limit 5 --json'))
    .action(async (flags: { limit: number; json?: boolean }) => {
      await withNightshift(async (nightshift) => {
        let any = false;
        for await (const run of nightshift.list(flags.limit)) {
          any = true;
          const started = run.startTime.toISOString();
          if (flags.json) console.log(JSON.stringify({ ...run, startTime: started }));
          else console.log(`${run.id.padEnd(36)} ${run.status.padEnd(10)} ${started}`);
        }
        if (!any && !flags.json) console.error('no runs yet: start one with `nightshift submit`');
      });
    });
}
