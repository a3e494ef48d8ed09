import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { RunSummary } from '../../workflows/types.js';
import type { Nightshift } from '../client.js';
import { EXIT_NOT_ALL_SUCCEEDED, examples, withNightshift } from './common.js';

/** Copies results.jsonl and summary.json of a finished run from the store into `dir`; null if not finished. */
export async function writeResults(
  nightshift: Nightshift,
  runId: string,
  dir: string,
): Promise<RunSummary | null> {
  const summary = await nightshift.run(runId).summary();
  if (!summary) return null;
  await mkdir(dir, { recursive: true });
  await pipeline(
    nightshift.store.read(runId, summary.results_path),
    createWriteStream(join(dir, 'results.jsonl')),
  );
  await writeFile(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

export function registerResults(program: Command): void {
  program
    .command('results')
    .description('write results.jsonl and summary.json of a finished run into a folder')
    .argument('<id>', 'run id')
    .requiredOption('--out <dir>', 'folder to write results.jsonl and summary.json into')
    .addHelpText('after', examples('nightshift results run-20250101-120000-abc123 --out ./out'))
    .action(async (id: string, opts: { out: string }) => {
      await withNightshift(async (nightshift) => {
        const summary = await writeResults(nightshift, id, opts.out);
        if (!summary) {
          console.error(
            `run ${id} has no results yet (still running, or no such run in ${nightshift.store.location})`,
          );
          process.exitCode = EXIT_NOT_ALL_SUCCEEDED;
          return;
        }
        console.log(`${resolve(opts.out, 'results.jsonl')} (${summary.counts.total} lines)`);
        console.log(resolve(opts.out, 'summary.json'));
      });
    });
}
