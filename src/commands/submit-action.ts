import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DEFAULT_PROVIDER, type ProviderName } from '../../workflows/provider-names.js';
import { type ArtifactStore, isValidRunId, StoreSettingsError } from '../artifacts.js';
import { type CacheLookup, lookUpCache } from '../cache-lookup.js';
import {
  DEFAULT_RUN_OPTIONS,
  InvalidInputError,
  inputPathFor,
  isStoredInput,
  type Nightshift,
  newRunId,
  runOptionsFor,
  type SubmitOptions,
  validateStoredInput,
  validationFor,
} from '../client.js';
import { loadConfig } from '../config.js';
import { type DeadlineOption, deadlineOf, durationSeconds } from '../deadlines.js';
import { CostTally, estimateSent, UNBOUNDED_OUTPUT_GUESS } from '../estimate.js';
import { type ExportFormat, exportResults } from '../exports.js';
import { type JsonSchema, OutputValidator } from '../output-schema.js';
import { budgetFor } from '../pricing.js';
import { PROVIDER_RULES } from '../providers/rules.js';
import type { FileValidation, ValidateFileOptions, ValidationError } from '../requests.js';
import { formatValidationError, isBatchEndpoint, validateRequestsFile } from '../requests.js';
import {
  TemplateInputError,
  type TemplateOptions,
  type TemplateSource,
  writeTemplateRequests,
} from '../templates.js';
import { EXIT_NOT_ALL_SUCCEEDED, UsageError, withNightshift } from './common.js';
import { followRun, formatSummary } from './display.js';
import { writeResults } from './results.js';
import { checkedStore } from './store.js';
import type { SubmitFlags } from './submit.js';

/** OpenAI takes 16 metadata pairs; Nightshift puts 4 of its own on every batch. */
const MAX_USER_METADATA = 12;

/** Progress is shown at least this often, and never more often than every 200 ms. */
const MAX_DISPLAY_INTERVAL_S = 2;

/** Problems found before anything was submitted, the way compilers report them. */
function reportProblems(file: string, errors: ValidationError[], total: number): never {
  const lines = errors.map((e) => formatValidationError(file, e));
  if (total > errors.length) lines.push(`+${total - errors.length} more`);
  throw new UsageError(`${lines.join('\n')}\nnothing was submitted`);
}

export function templateSource(
  file: string | undefined,
  flags: SubmitFlags,
): TemplateSource | null {
  const modes = [file, flags.prompts, flags.records].filter((m) => m !== undefined);
  if (modes.length !== 1) {
    throw new UsageError('give exactly one of: a requests file, --prompts <txt>, --records <file>');
  }
  if (flags.records && !flags.template) throw new UsageError('--records needs --template');
  if (flags.template && !flags.records) throw new UsageError('--template goes with --records');
  if (file && (flags.system || flags.maxTokens || flags.idField)) {
    throw new UsageError('--system, --max-tokens and --id-field go with --prompts or --records');
  }
  if (flags.prompts) return { kind: 'prompts', path: flags.prompts };
  if (flags.records)
    return { kind: 'records', path: flags.records, template: flags.template ?? '' };
  return null;
}

export function runOptions(flags: SubmitFlags, id?: string): SubmitOptions {
  if (flags.endpoint !== undefined && !isBatchEndpoint(flags.endpoint)) {
    throw new UsageError(`--endpoint: not a Batch API endpoint: ${flags.endpoint}`);
  }
  const metadata = flags.metadata ?? {};
  if (Object.keys(metadata).length > MAX_USER_METADATA) {
    throw new UsageError(`--metadata: at most ${MAX_USER_METADATA} pairs`);
  }
  const options: SubmitOptions = {
    id,
    metadata,
    provider: flags.provider ?? loadConfig().provider,
  };
  if (flags.endpoint !== undefined && isBatchEndpoint(flags.endpoint)) {
    options.endpoint = flags.endpoint;
  }
  if (flags.maxAttempts !== undefined) options.maxAttempts = flags.maxAttempts;
  if (flags.pollInterval !== undefined) {
    options.pollIntervalSeconds = flags.pollInterval;
    // The backoff keeps the default ratio, so a short interval (the emulator) stays short.
    const { maxPollIntervalSeconds: max, pollIntervalSeconds: min } = DEFAULT_RUN_OPTIONS;
    options.maxPollIntervalSeconds = Math.max(
      flags.pollInterval,
      Math.min(max, flags.pollInterval * (max / min)),
    );
  }
  if (flags.maxRequestsPerBatch !== undefined) {
    options.maxRequestsPerBatch = flags.maxRequestsPerBatch;
  }
  if (flags.maxBytesPerBatch !== undefined) options.maxBytesPerBatch = flags.maxBytesPerBatch;
  if (flags.maxConcurrentBatches !== undefined) {
    options.maxConcurrentBatches = flags.maxConcurrentBatches;
  }
  if (flags.keepProviderFiles) options.keepProviderFiles = true;
  const { stuckAfterSeconds, quotaAccount, fanOutWidth } = loadConfig();
  if (stuckAfterSeconds) options.stuckAfterSeconds = stuckAfterSeconds;
  if (fanOutWidth) options.fanOutWidth = fanOutWidth;
  options.quotaAccount = quotaAccount;
  if (flags.cacheAny && !flags.cache) throw new UsageError('--cache-any goes without --no-cache');
  options.cache = flags.cache && (flags.cacheAny ? 'any' : true);
  if (flags.deadline !== undefined) options.deadline = deadlineFlags(flags.deadline, flags);
  else if (flags.deadlineMargin !== undefined) {
    throw new UsageError('--deadline-margin goes with --deadline');
  }
  return options;
}

/** `--deadline` and `--deadline-margin`, checked now; a duration counts from each run's start. */
function deadlineFlags(at: string, flags: SubmitFlags): DeadlineOption {
  const margin = flags.deadlineMargin;
  const marginSeconds = margin === undefined ? undefined : durationSeconds(margin);
  if (marginSeconds === null) {
    throw new UsageError(
      `--deadline-margin: expected a duration such as 90s, 45m or 1h, got ${margin}`,
    );
  }
  const { syncConcurrency, syncSecondsPerRequest } = loadConfig();
  const option = {
    at,
    ...(marginSeconds === undefined ? {} : { marginSeconds }),
    syncConcurrency,
    syncSecondsPerRequest,
  };
  try {
    deadlineOf(option);
  } catch (err) {
    throw new UsageError(`--deadline: ${(err as Error).message}`);
  }
  return option;
}

/**
 * Writes the requests of template mode under NIGHTSHIFT_HOME/inputs/ (and records mode's records
 * into the run's folder of the store, for exports), or reports bad records.
 */
async function buildFromTemplate(
  source: TemplateSource,
  flags: SubmitFlags,
  store: ArtifactStore,
  id: string,
  provider: ProviderName,
) {
  const options: TemplateOptions = {
    model: flags.model ?? PROVIDER_RULES[provider].templateModel,
    system: flags.system,
    maxTokens: flags.maxTokens,
    idField: flags.idField,
  };
  const path = await inputPathFor(loadConfig().home, id);
  try {
    const n = await writeTemplateRequests(source, options, path, { store, runId: id });
    console.error(`built ${n} requests from ${source.path} into ${path}`);
  } catch (err) {
    if (err instanceof TemplateInputError) reportProblems(err.file, err.problems, err.problemCount);
    throw err;
  }
  return path;
}

/**
 * The requests file as an absolute path, or an `s3://` object as it is, or a usage error naming
 * what is wrong with it.
 */
async function requestsFile(file: string | undefined): Promise<string> {
  if (!file) throw new UsageError('give a requests file, or --prompts / --records with --template');
  return existingInput(file);
}

/**
 * A file that is there, as an absolute path, or an `s3://` object as it is; else a usage error
 * naming it (after `label`, the option that gave it).
 */
export async function existingInput(file: string, label = ''): Promise<string> {
  if (isStoredInput(file)) return file;
  const path = resolve(file);
  const info = await stat(path).catch(() => null);
  if (!info) throw new UsageError(`${label}${file}: no such file`);
  if (!info.isFile()) throw new UsageError(`${label}${file}: not a file (a directory?)`);
  return path;
}

/** Validates a file, or an object of the store by streaming it. */
async function validateInput(
  store: ArtifactStore,
  input: string,
  options: ValidateFileOptions,
): Promise<FileValidation> {
  if (!isStoredInput(input)) return validateRequestsFile(input, options);
  try {
    return await validateStoredInput(store, input, options);
  } catch (err) {
    if (err instanceof InvalidInputError) reportProblems(input, err.problems, err.problems.length);
    if (err instanceof StoreSettingsError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Shows what the run will cost at most, and refuses it when that is over `--max-cost`. Returns
 * the estimate's cost per request sent (null: no price known).
 *
 * The run's prepare looks the requests up in the result cache, so the estimate counts them all.
 * Only when that is over `--max-cost` does submit look them up itself (prepare then keeps what it
 * found), to refuse the run only if what would be sent is over it.
 */
async function estimateAndCheck(
  tally: CostTally,
  maxCost: number | undefined,
  total: number,
  run: Submission,
): Promise<number | null> {
  let estimate = await tally.estimate();
  const overBudget = maxCost !== undefined && (estimate.usd ?? 0) > maxCost;
  const cache = run.options.cache !== false;
  const cached = overBudget && cache ? await lookUp(run) : undefined;
  if (cached && cached.hits > 0)
    estimate = await estimateSent(requestsOf(run), cached.lines, estimate.model);
  const guess = estimate.unbounded
    ? ` (${estimate.unbounded} requests set no max_tokens: counted at ${UNBOUNDED_OUTPUT_GUESS})`
    : '';
  const { sample } = estimate;
  const sampled = sample
    ? ` (from ${sample.requests} of ${sample.of} requests tokenized, ±${sample.errorPct.toFixed(1)}% at 95%)`
    : '';
  const tokens = `${estimate.inputTokens} input${sampled} + ≤${estimate.outputTokens} output tokens${guess}`;
  if (estimate.usd === null) {
    if (maxCost !== undefined) {
      throw new UsageError(
        `--max-cost: no price known for model ${estimate.model ?? '(none)'}; ` +
          'cannot check the budget, nothing was submitted',
      );
    }
    console.error(`estimate: ${tokens}; no price known for ${estimate.model ?? 'this endpoint'}`);
    return null;
  }
  const before = cache && !cached ? ', before what the result cache answers' : '';
  const line = `estimated cost ≤ $${estimate.usd.toFixed(4)} at the batch price${before}: ${tokens}`;
  if (maxCost !== undefined && estimate.usd > maxCost) {
    throw new UsageError(`${line}\nover --max-cost $${maxCost}: nothing was submitted`);
  }
  console.error(line);
  const sent = total - (cached?.hits ?? 0);
  return sent > 0 ? estimate.usd / sent : null;
}

/** What is being submitted: the input (a path, or an object of the store) and the options. */
interface Submission {
  store: ArtifactStore;
  input: string;
  options: SubmitOptions;
}

const requestsOf = ({ store, input }: Submission) =>
  isStoredInput(input) ? store.readInput(input) : input;

/** Looks the requests up in the result cache for the run, and says what it found. */
async function lookUp(run: Submission): Promise<CacheLookup | undefined> {
  const { store, options } = run;
  if (!options.id) return undefined;
  const lookup = await lookUpCache(store, options.id, requestsOf(run), {
    provider: options.provider,
    any: options.cache === 'any',
    outputSchema: options.outputSchema,
  });
  const varied = lookup.varied
    ? ` (${lookup.varied} asking for varied answers not looked up: --cache-any serves them)`
    : '';
  if (lookup.hits > 0 || lookup.varied > 0) {
    console.error(`cache: ${lookup.hits} requests answered by earlier runs, not sent${varied}`);
  }
  return lookup;
}

/** NIGHTSHIFT_ENQUEUED_TOKENS's limit for the run's provider and model, set on its ledger. */
async function applyQuotaFromEnvironment(
  nightshift: Nightshift,
  options: SubmitOptions,
  model: string | null,
): Promise<void> {
  const provider = options.provider ?? DEFAULT_PROVIDER;
  const { enqueuedTokens, quotaAccount } = loadConfig();
  const entry = enqueuedTokens.find((e) => e.provider === provider && e.model === model);
  if (!entry || !model) return;
  const { setQuota } = await import('../quota.js');
  const account = options.quotaAccount ?? quotaAccount;
  await setQuota(
    nightshift.temporal,
    nightshift.taskQueue,
    { provider, account, model },
    entry.limit,
  );
}

/** `nightshift submit`: validate, estimate, start the run; with --wait, follow it to its end. */
/** The JSON Schema of `--output-schema`, checked to compile before anything is spent. */
export async function readSchema(path: string): Promise<JsonSchema> {
  try {
    const schema = JSON.parse(await readFile(path, 'utf8')) as JsonSchema;
    new OutputValidator().compile(schema);
    return schema;
  } catch (err) {
    throw new UsageError(`--output-schema: ${path}: ${(err as Error).message}`);
  }
}

export async function submit(file: string | undefined, flags: SubmitFlags): Promise<void> {
  if (flags.format && !flags.out) throw new UsageError('--format goes with --out <dir>');
  const source = templateSource(file, flags);
  const id = flags.id ?? newRunId();
  if (!isValidRunId(id)) {
    throw new UsageError(`--id: use letters, digits, '.', '_' and '-' (at most 128): ${id}`);
  }
  const options = runOptions(flags, id);
  if (flags.outputSchema) options.outputSchema = await readSchema(flags.outputSchema);
  let validation: ValidateFileOptions;
  try {
    validation = validationFor(runOptionsFor(options));
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
  const store = await checkedStore(loadConfig());
  const input = source
    ? await buildFromTemplate(source, flags, store, id, options.provider ?? DEFAULT_PROVIDER)
    : await requestsFile(file);
  // The estimate is tallied in the validation's pass: the file is read once.
  const tally = new CostTally();
  const report = await validateInput(store, input, {
    ...validation,
    onRequest: ({ url, body }) => {
      if (body) tally.add(url, body);
    },
  });
  if (!report.ok) reportProblems(file ?? input, report.errors, report.errorCount);
  const usdPerRequest = await estimateAndCheck(tally, flags.maxCost, report.total, {
    store,
    input,
    options,
  });
  if (flags.maxCost !== undefined && report.model) {
    // The estimate guards the first attempts; the budget guards every resubmission after them
    // (a deadline's synchronous fallback included), priced by the estimate until some succeed.
    const budget = budgetFor(report.model, flags.maxCost);
    if (budget) options.budget = { ...budget, ...(usdPerRequest ? { usdPerRequest } : {}) };
  }

  await withNightshift(async (nightshift) => {
    await applyQuotaFromEnvironment(nightshift, options, report.model);
    const { run, started } = await nightshift.submit(input, options, report);
    if (started) {
      console.error(
        `started run ${id}: ${report.total} requests (${report.model ?? report.endpoint})`,
      );
    } else {
      console.error(`run ${id} already exists: not starting another`);
    }
    console.log(id);
    if (!flags.wait && !flags.out) {
      if (started) console.error(`follow it with: nightshift status ${id} --watch`);
      return;
    }
    const interval = Math.min(Math.max(flags.pollInterval ?? 1, 0.2), MAX_DISPLAY_INTERVAL_S);
    const summary = await followRun(run, interval * 1000);
    console.log(formatSummary(summary));
    if (flags.out) await announceResults(nightshift, id, flags.out, flags.format);
    if (summary.status !== 'completed') process.exitCode = EXIT_NOT_ALL_SUCCEEDED;
  }, store);
}

async function announceResults(
  nightshift: Nightshift,
  id: string,
  out: string,
  format: ExportFormat | undefined,
): Promise<void> {
  await writeResults(nightshift, id, out);
  console.log(`results: ${resolve(out, 'results.jsonl')}`);
  if (!format || format === 'jsonl') return;
  const table = resolve(out, `results.${format}`);
  const rows = await exportResults(nightshift.store, id, format, table);
  console.log(`table: ${table} (${rows} rows)`);
}
