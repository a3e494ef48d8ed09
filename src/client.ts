import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandle,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { partWorkflowId } from '../workflows/ids.js';
import { cancelSignal, partProgressQuery, runProgressQuery } from '../workflows/messages.js';
import { DEFAULT_PROVIDER } from '../workflows/provider-names.js';
import type { runWorkflow } from '../workflows/run.js';
import { NightshiftRunId, NightshiftStatus } from '../workflows/search-attributes.js';
import type {
  BatchEndpoint,
  ResultLine,
  RunInput,
  RunOptions,
  RunProgress,
  RunSummary,
} from '../workflows/types.js';
import {
  type ArtifactStore,
  artifactNames,
  InvalidArtifactPathError,
  isValidRunId,
} from './artifacts.js';
import {
  DEFAULT_QUOTA_ACCOUNT,
  DEFAULT_TASK_QUEUE,
  loadConfig,
  type NightshiftConfig,
} from './config.js';
import { type DeadlineOption, deadlineOf } from './deadlines.js';
import { writeLines } from './jsonl.js';
import type { JsonSchema } from './output-schema.js';
import { PROVIDER_RULES } from './providers/rules.js';
import { runningLedger } from './quota.js';
import {
  type FileValidation,
  type ValidateFileOptions,
  validateRequests,
  validateRequestsFile,
} from './requests.js';
import { openStore } from './store/index.js';
import { LocalArtifactStore } from './store/local.js';
import { connectClient } from './temporal/connection.js';

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  maxAttempts: 3,
  pollIntervalSeconds: 30,
  maxPollIntervalSeconds: 600,
  // The default provider's limits; `runOptionsFor` takes the run's provider's.
  maxRequestsPerBatch: PROVIDER_RULES[DEFAULT_PROVIDER].maxRequestsPerBatch,
  maxBytesPerBatch: PROVIDER_RULES[DEFAULT_PROVIDER].maxBytesPerBatch,
  maxConcurrentBatches: 8,
  metadata: {},
};

/**
 * A run's options: the defaults, the provider's batch limits, then what the caller set, which
 * may split finer than the provider allows but never coarser.
 * @throws RangeError for a limit over the provider's
 */
export function runOptionsFor(
  overrides: Partial<Omit<RunOptions, 'outputSchema' | 'cache' | 'deadline'>>,
): RunOptions {
  const provider = overrides.provider ?? DEFAULT_PROVIDER;
  const rules = PROVIDER_RULES[provider];
  const options: RunOptions = {
    ...DEFAULT_RUN_OPTIONS,
    maxRequestsPerBatch: rules.maxRequestsPerBatch,
    maxBytesPerBatch: rules.maxBytesPerBatch,
    ...overrides,
  };
  for (const key of ['maxRequestsPerBatch', 'maxBytesPerBatch'] as const) {
    if (options[key] > rules[key]) {
      throw new RangeError(`${key} ${options[key]} is over ${provider}'s limit of ${rules[key]}`);
    }
  }
  const width = options.fanOutWidth;
  if (width !== undefined && !(Number.isInteger(width) && width >= 2)) {
    throw new RangeError(`fanOutWidth must be a whole number of 2 or more, got ${width}`);
  }
  return options;
}

/** How a run's input is validated before anything is spent: the provider's rules included. */
export function validationFor(options: RunOptions): ValidateFileOptions {
  return {
    endpoint: options.endpoint,
    // A line longer than a part can hold would only fail later, in prepare.
    maxLineBytes: options.maxBytesPerBatch,
    translate: PROVIDER_RULES[options.provider ?? DEFAULT_PROVIDER].translate,
  };
}

export type { ResultLine };

export class InvalidInputError extends Error {
  constructor(
    readonly file: string,
    readonly problems: { line: number; message: string }[],
  ) {
    super(problems.map((p) => `${file}:${p.line}: ${p.message}`).join('\n'));
    this.name = 'InvalidInputError';
  }
}

export interface SubmitOptions
  extends Partial<Omit<RunOptions, 'outputSchema' | 'cache' | 'deadline'>> {
  /** Run id (the workflow id); a second submit with the same id returns the first run. */
  id?: string;
  /**
   * A JSON Schema (draft 2020-12) every response's output must match, stored with the run; a
   * request's own `response_format` still wins for its response.
   */
  outputSchema?: JsonSchema;
  /**
   * The result cache (default true): requests answered by an earlier run are not sent, and every
   * success is stored for later runs. `'any'` also serves requests that ask for varied answers
   * (temperature above 0 without a seed, n > 1); false neither looks up nor stores.
   */
  cache?: boolean | 'any';
  /**
   * When every request must be done by (an ISO time, a Date, or a duration from now such as
   * `6h`): what a batch could not finish by then goes through the synchronous API, at the
   * standard price (see the README's Deadlines).
   */
  deadline?: DeadlineOption;
  /**
   * Whose enqueued-token ledger the run's batches queue in, when a quota is set for its provider
   * and model (`nightshift quota set`); default `default`.
   */
  quotaAccount?: string;
}

export interface Submitted {
  run: Run;
  /** False when a run with this id already existed and was returned instead. */
  started: boolean;
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `run-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** The input file of a run started from generated requests: `<home>/inputs/<id>.jsonl`. */
export async function inputPathFor(home: string, id: string): Promise<string> {
  if (!isValidRunId(id)) throw new InvalidArtifactPathError(`invalid run id: ${id}`);
  const dir = join(home, 'inputs');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${id}.jsonl`);
}

/** A run, by id: its progress, its end, its results. */
export class Run {
  readonly handle: WorkflowHandle<typeof runWorkflow>;

  constructor(
    private readonly client: Client,
    readonly id: string,
    private readonly store: ArtifactStore,
  ) {
    this.handle = client.workflow.getHandle<typeof runWorkflow>(id);
  }

  /** The run's progress, with live detail from each part that is still running. */
  async progress(): Promise<RunProgress> {
    const progress = await this.handle.query(runProgressQuery);
    await Promise.all(
      progress.parts.map(async (part, i) => {
        if (part.phase === 'pending' || part.phase === 'done') return;
        try {
          const live = await this.client.workflow
            .getHandle(partWorkflowId(this.id, part.part))
            .query(partProgressQuery);
          progress.parts[i] = live;
        } catch {
          // The part may have just finished or not started yet: the run's view stands.
        }
      }),
    );
    return progress;
  }

  /** Waits for the end of the run; throws if the run failed. */
  wait(): Promise<RunSummary> {
    return this.handle.result();
  }

  /** Asks the run to cancel its batches and finish with what completed. */
  cancel(): Promise<void> {
    return this.handle.signal(cancelSignal);
  }

  /** summary.json of a finished run, or null while it runs. */
  summary(): Promise<RunSummary | null> {
    return this.store.readJson<RunSummary>(this.id, artifactNames.summary);
  }

  /** Streams results.jsonl of a finished run. */
  async *results(): AsyncGenerator<ResultLine> {
    const summary = await this.summary();
    if (!summary) throw new Error(`run ${this.id} has no results yet`);
    for await (const line of this.store.readLines(this.id, summary.results_path)) {
      yield JSON.parse(line.text) as ResultLine;
    }
  }
}

/** Whether `input` names an object of the store rather than a file of this machine. */
export const isStoredInput = (input: string) => input.startsWith('s3://');

/**
 * Validates an object of the store by streaming it, as {@link validateRequestsFile} does a file.
 * @throws InvalidInputError when there is no such object
 */
export async function validateStoredInput(
  store: ArtifactStore,
  url: string,
  options: ValidateFileOptions = {},
): Promise<FileValidation> {
  // Taken before reading, as for a file: a later write shows as another version.
  const version = await store.inputVersion(url);
  if (!version) throw new InvalidInputError(url, [{ line: 0, message: 'no such object' }]);
  return { ...(await validateRequests(store.readInput(url), options)), mtimeMs: version.mtimeMs };
}

/** A validated input: its report, with the endpoint every valid input has. */
export type CheckedInput = FileValidation & { endpoint: BatchEndpoint };

/**
 * Validates a run's input under its options (the provider's rules, the output schema), or
 * throws: InvalidInputError naming every bad line (up to a limit), or the schema's error.
 */
export async function checkInput(
  store: ArtifactStore,
  input: string,
  options: SubmitOptions,
  /** The report of a validation the caller already ran on this input: skips a second read. */
  validated?: FileValidation,
): Promise<CheckedInput> {
  // A schema that does not compile would turn every answer into an invalid output: refused
  // before anything is spent. The validator loads only then: `list` and `status` need none.
  if (options.outputSchema !== undefined) {
    const { OutputValidator } = await import('./output-schema.js');
    new OutputValidator().compile(options.outputSchema);
  }
  const validation = validationFor(runOptionsFor(options));
  // A deadline that does not parse, or has passed, is refused before anything is spent.
  if (options.deadline !== undefined) deadlineOf(options.deadline);
  const check =
    validated ??
    (isStoredInput(input)
      ? await validateStoredInput(store, input, validation)
      : await validateRequestsFile(resolve(input), validation));
  if (!check.ok || !check.endpoint) throw new InvalidInputError(input, check.errors);
  return check as CheckedInput;
}

/**
 * The run workflow's input for a checked input: the file put where the workers read it (the
 * S3 store: uploaded once per run id), the output schema stored with the run.
 */
export async function runInputFor(
  store: ArtifactStore,
  id: string,
  input: string,
  check: CheckedInput,
  options: SubmitOptions,
): Promise<RunInput> {
  const { id: _id, outputSchema, cache = true, deadline, quotaAccount: _q, ...overrides } = options;
  const runOptions = runOptionsFor(overrides);
  if (deadline !== undefined) runOptions.deadline = deadlineOf(deadline);
  const stored = isStoredInput(input);
  const { bytes, mtimeMs, total, endpoint, model } = check;
  const inputFile = stored ? input : await store.putInput(id, resolve(input), { bytes, mtimeMs });
  if (outputSchema !== undefined) {
    await store.writeJson(id, artifactNames.outputSchema, outputSchema);
    runOptions.outputSchema = artifactNames.outputSchema;
  }
  // The run's prepare looks the requests up: submit hashes nothing.
  if (cache !== false) runOptions.cache = cache;
  return {
    inputFile,
    options: runOptions,
    submittedAt: new Date().toISOString(),
    validated: { bytes, mtimeMs, total, endpoint, model },
  };
}

/**
 * The client library: start runs from a file, follow them, cancel them, read their results.
 * Runs execute on Nightshift workers, which read inputs and write results through the store.
 */
export class Nightshift {
  constructor(
    readonly temporal: Client,
    readonly taskQueue: string = DEFAULT_TASK_QUEUE,
    readonly store: ArtifactStore = new LocalArtifactStore(loadConfig().home),
    /** Where inputs made from in-memory requests are written (`<home>/inputs/`). */
    readonly home: string = store instanceof LocalArtifactStore ? store.root : loadConfig().home,
  ) {}

  /**
   * A client connected as the environment says (TEMPORAL_*, NIGHTSHIFT_*: `loadConfig`), on
   * `store` or the one NIGHTSHIFT_STORE names.
   */
  static async connect(
    config: NightshiftConfig = loadConfig(),
    store?: ArtifactStore,
  ): Promise<Nightshift> {
    return new Nightshift(
      await connectClient(config.temporal),
      config.taskQueue,
      store ?? (await openStore(config)),
    );
  }

  run(id: string): Run {
    return new Run(this.temporal, id, this.store);
  }

  /**
   * Validates the input (nothing is uploaded when a line is bad), puts it where the workers read
   * it (the S3 store: uploaded once per run id), then starts a run. `input` is a file of this
   * machine, or an `s3://` object of the store, validated by streaming it.
   * @throws InvalidInputError naming every bad line (up to a limit)
   */
  async submit(
    input: string,
    options: SubmitOptions = {},
    /** The report of a validation the caller already ran on this input: skips a second read. */
    validated?: FileValidation,
  ): Promise<Submitted> {
    const id = options.id ?? newRunId();
    if (!isValidRunId(id)) throw new InvalidArtifactPathError(`invalid run id: ${id}`);
    const check = await checkInput(this.store, input, options, validated);
    // Before the upload: a resubmit must not replace the input of a run that already exists.
    if (await this.exists(id)) return { run: this.run(id), started: false };
    const runInput = await runInputFor(this.store, id, input, check, options);
    if (check.model) {
      const provider = runInput.options.provider ?? DEFAULT_PROVIDER;
      const account = options.quotaAccount ?? DEFAULT_QUOTA_ACCOUNT;
      const ledger = await runningLedger(this.temporal, { provider, account, model: check.model });
      if (ledger) runInput.options.ledger = { workflowId: ledger };
    }
    const { inputFile } = runInput;
    try {
      await this.temporal.workflow.start<typeof runWorkflow>('runWorkflow', {
        taskQueue: this.taskQueue,
        workflowId: id,
        args: [runInput],
        // A second submit with the same id, running or finished, never starts a second run.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [{ key: NightshiftRunId, value: id }],
        staticSummary: `Nightshift run ${id}: ${check.total} requests to ${check.endpoint}`,
        staticDetails: `Input: ${inputFile}\nModel: ${check.model ?? 'n/a'}`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      return { run: this.run(id), started: false };
    }
    return { run: this.run(id), started: true };
  }

  /** Whether a run with this id was ever started (and is still in Temporal's retention). */
  private async exists(id: string): Promise<boolean> {
    try {
      await this.run(id).handle.describe();
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /**
   * Starts a run from requests in memory (objects shaped like the lines of a requests file):
   * they are written under `<home>/inputs/`, and from there to the store as any input is.
   */
  async submitRequests(
    requests: Iterable<object> | AsyncIterable<object>,
    options: SubmitOptions = {},
  ): Promise<Submitted> {
    const id = options.id ?? newRunId();
    const path = await inputPathFor(this.home, id);
    await writeLines(
      path,
      mapAsync(requests, (r) => JSON.stringify(r)),
    );
    return this.submit(path, { ...options, id });
  }

  /** Closes the connection to Temporal. */
  close(): Promise<void> {
    return this.temporal.connection.close();
  }

  /** Recent runs, newest first. */
  async *list(limit = 20): AsyncGenerator<{ id: string; status: string; startTime: Date }> {
    let n = 0;
    for await (const wf of this.temporal.workflow.list({ query: "WorkflowType = 'runWorkflow'" })) {
      const status = wf.typedSearchAttributes.get(NightshiftStatus);
      yield { id: wf.workflowId, status: status ?? wf.status.name, startTime: wf.startTime };
      if (++n >= limit) return;
    }
  }
}

async function* mapAsync<T, U>(
  items: Iterable<T> | AsyncIterable<T>,
  fn: (item: T) => U,
): AsyncGenerator<U> {
  for await (const item of items) yield fn(item);
}
