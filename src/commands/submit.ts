// `nightshift submit` as --help shows it; submit-action.ts, loaded when it runs, does the work.
import { type Command, Option } from 'commander';
import { PROVIDER_NAMES, type ProviderName } from '../../workflows/provider-names.js';
import { EXPORT_FORMATS, type ExportFormat } from '../exports.js';
import { examples, keyValue, positiveInt, positiveNumber } from './common.js';

export interface SubmitFlags {
  id?: string;
  provider?: ProviderName;
  endpoint?: string;
  maxAttempts?: number;
  pollInterval?: number;
  maxRequestsPerBatch?: number;
  maxBytesPerBatch?: number;
  maxConcurrentBatches?: number;
  metadata?: Record<string, string>;
  maxCost?: number;
  keepProviderFiles?: boolean;
  outputSchema?: string;
  /** False with --no-cache. */
  cache: boolean;
  cacheAny?: boolean;
  deadline?: string;
  deadlineMargin?: string;
  wait?: boolean;
  out?: string;
  format?: ExportFormat;
  prompts?: string;
  records?: string;
  template?: string;
  model: string;
  system?: string;
  maxTokens?: number;
  idField?: string;
}

/** The options of a run, shared by `submit` and `schedule create`. */
export function addRunOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--provider <name>',
        'the batch API (default: NIGHTSHIFT_PROVIDER, else openai)',
      ).choices(PROVIDER_NAMES),
    )
    .option('--endpoint <url>', 'expected endpoint, e.g. /v1/chat/completions')
    .option('--max-attempts <n>', 'attempts per request (expired, transient errors)', positiveInt)
    .option('--poll-interval <seconds>', 'shortest wait between polls of a batch', positiveNumber)
    .option('--max-requests-per-batch <n>', 'split into batches of at most n requests', positiveInt)
    .option('--max-bytes-per-batch <n>', 'split into batches of at most n bytes', positiveInt)
    .option('--max-concurrent-batches <n>', 'batches in flight at once', positiveInt)
    .option('--metadata <key=value>', 'metadata on every batch (repeatable)', keyValue)
    .option(
      '--keep-provider-files',
      "leave the run's uploaded, output and error files at the provider (default: deleted once the results are stored; they expire after 7 days)",
    )
    .option(
      '--output-schema <file>',
      "a JSON Schema every response's output must match; outputs that do not are resubmitted, then end invalid_output",
    )
    .option(
      '--no-cache',
      'send every request, and keep no answer for later runs (default: requests an earlier run answered are served from the result cache, not sent)',
    )
    .option(
      '--cache-any',
      'also serve from the cache requests that ask for varied answers (temperature > 0 without seed, n > 1)',
    )
    .option(
      '--deadline <time>',
      'every request done by then (ISO time, or 90s, 45m, 6h, 2d from the submit): what a batch could not finish in time goes through the synchronous API, at the standard price',
    )
    .option(
      '--deadline-margin <duration>',
      'slack the plan keeps before the deadline (default: a tenth of the time to it)',
    );
}

/** Template mode's options, shared by `submit` and `schedule create`. */
export function addTemplateOptions(command: Command): Command {
  return command
    .option('--prompts <txt>', 'template mode: one prompt per line')
    .option('--records <file>', 'template mode: records as JSONL or CSV, with --template')
    .option('--template <text>', 'prompt template; {{field}} takes a field of the record')
    .option(
      '--model <model>',
      "template mode: model (default: the provider's small model, gpt-4o-mini for openai; Azure: the deployment name)",
    )
    .option('--system <text>', 'template mode: system message')
    .option('--max-tokens <n>', 'template mode: max_tokens of each request', positiveInt)
    .option('--id-field <field>', 'template mode: record field used as custom_id (else row-<n>)');
}

export function registerSubmit(program: Command): void {
  const submit = program
    .command('submit')
    .description(
      'validate a requests file (nothing is spent on bad input), start a run, print its id',
    )
    .argument('[file]', 'requests JSONL (one Batch API request per line)')
    .option('--id <id>', 'run id; a second submit with the same id does not start another run');
  addTemplateOptions(addRunOptions(submit))
    .option(
      '--max-cost <usd>',
      'refuse to submit if the estimate exceeds this, and stop resubmitting before a retry would pass it',
      positiveNumber,
    )
    .option('--wait', 'follow the run to its end; exit 0 only if every request succeeded')
    .option('--out <dir>', 'with --wait (implied): write results.jsonl and summary.json here')
    .addOption(
      new Option(
        '--format <format>',
        'with --out: also the results as one table, results.<format> (see `results --help`)',
      ).choices(EXPORT_FORMATS),
    )
    .addHelpText(
      'after',
      examples(
        'nightshift submit requests.jsonl --wait --out ./out',
        'nightshift submit requests.jsonl --id nightly-2025-01-01 --max-cost 5 --metadata team=search',
        'nightshift submit --prompts prompts.txt --model gpt-4o-mini --max-tokens 200 --wait',
        'nightshift submit --records reviews.csv --id-field id --max-tokens 3 \\\n' +
          '      --template "Sentiment of this review (positive/negative/neutral): {{review}}"',
      ),
    )
    .action(async (file: string | undefined, flags: SubmitFlags) => {
      const { submit } = await import('./submit-action.js');
      await submit(file, flags);
    });
}
