import type { Command } from 'commander';
import { examples, UsageError, withNightshift } from './common.js';

export function registerGc(program: Command): void {
  program
    .command('gc')
    .description('remove the artifacts of runs that ended long enough ago (never of open runs)')
    .requiredOption('--older-than <age>', 'how long ago a run must have ended: 30d, 12h, 90m')
    .addHelpText('after', examples('nightshift gc --older-than 30d'))
    .action(async (flags: { olderThan: string }) => {
      const { collectRuns, parseAge } = await import('../gc.js');
      const age = parseAge(flags.olderThan);
      if (age === null)
        throw new UsageError(`--older-than: expected 30d, 12h or 90m, got ${flags.olderThan}`);
      await withNightshift(async (nightshift) => {
        const cutoff = new Date(Date.now() - age);
        const { removed, kept } = await collectRuns(nightshift.temporal, nightshift.store, cutoff);
        for (const runId of removed) console.log(`removed ${runId}`);
        for (const { runId, why } of kept) console.error(`kept ${runId}: ${why}`);
        console.error(
          `${removed.length} runs removed, ${kept.length} kept (${nightshift.store.location})`,
        );
      });
    });
}
