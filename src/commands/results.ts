import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import type { RunSummary } from '../../workflows/types.js';
import type { Nightshift } from '../client.js';
import { EXPORT_FORMATS, type ExportFormat, exportResults } from '../exports.js';
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

interface ResultsFlags {
  out: string;
  format?: ExportFormat;
}

/** `results --format`: the run's table into one file, read from the store alone (no Temporal). */
async function exportAction(id: string, format: ExportFormat, out: string): Promise<void> {
  const [{ loadConfig }, { checkedStore }] = await Promise.all([
    import('../config.js'),
    import('./store.js'),
  ]);
  const store = await checkedStore(loadConfig());
  const rows = await exportResults(store, id, format, resolve(out));
  if (rows === null) {
    noResults(id, store.location);
    return;
  }
  console.log(`${resolve(out)} (${rows} rows)`);
}

function noResults(id: string, location: string): void {
  console.error(`run ${id} has no results yet (still running, or no such run in ${location})`);
  process.exitCode = EXIT_NOT_ALL_SUCCEEDED;
}

export function registerResults(program: Command): void {
  program
    .command('results')
    .description(
      'write the results of a finished run: results.jsonl and summary.json into a folder, ' +
        'or with --format one file as JSONL, CSV or Parquet',
    )
    .argument('<id>', 'run id')
    .requiredOption('--out <path>', 'the folder (without --format), or the file to write')
    .addOption(
      new Option(
        '--format <format>',
        'one file: jsonl (results.jsonl as it is), or a table, one row per input line in ' +
          'input order (csv, parquet)',
      ).choices(EXPORT_FORMATS),
    )
    .addHelpText(
      'after',
      `
A table's columns: custom_id, status, output_text, the properties of the run's
--output-schema (one column each, typed in Parquet as the schema says: integer, number,
boolean; anything else as JSON text), error_code, error_message, attempts, batch_id, cached,
input_tokens, output_tokens (from the response's usage, whatever the provider), and response
(the provider's response as JSON text). A run made with --records has the records' own columns
first, as they were (a result column of the same name becomes result_<name>, an output
property output_<name>).
Empty cells are nulls; CSV quotes fields as RFC 4180 says (a field may hold line breaks).
${examples(
  'nightshift results run-20250101-120000-abc123 --out ./out',
  'nightshift results run-20250101-120000-abc123 --format csv --out answers.csv',
  'nightshift results run-20250101-120000-abc123 --format parquet --out answers.parquet',
)}`,
    )
    .action(async (id: string, opts: ResultsFlags) => {
      if (opts.format) {
        await exportAction(id, opts.format, opts.out);
        return;
      }
      await withNightshift(async (nightshift) => {
        const summary = await writeResults(nightshift, id, opts.out);
        if (!summary) {
          noResults(id, nightshift.store.location);
          return;
        }
        console.log(`${resolve(opts.out, 'results.jsonl')} (${summary.counts.total} lines)`);
        console.log(resolve(opts.out, 'summary.json'));
      });
    });
}
