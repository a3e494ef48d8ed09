// Types shared by workflows, activities and clients. Workflow-safe: no Node imports.

import type { SubmitOptions } from '../src/client.js';
import type { TemplateOptions, TemplateSource } from '../src/templates.js';
import type { BatchStatus, RequestStatus, StatusCounts } from './contract.js';
import type { ProviderName } from './provider-names.js';
import type { StuckBatch, StuckThresholds } from './stuck.js';

/**
 * A file in the artifact store, named relative to its run's folder (`parts/part-0001.jsonl`).
 * Branded, so that a path on some machine's disk cannot be passed where one is expected: only
 * `artifactNames` (src/artifacts.ts) makes them.
 */
export type ArtifactName = string & { readonly __artifact: true };

/** An absolute path on the disk of the machine that reads it (the client's, or a worker's). */
export type FilePath = string;

/**
 * Where a run's requests are, as the workers' store reads them: with the local store, a path on
 * the disk they share with the client; with the S3 store, an `s3://bucket/key` URL (the copy the
 * client uploaded, or an object submitted as it is).
 */
export type InputLocation = string;

/** Endpoints the Batch API accepts. */
export type BatchEndpoint =
  | '/v1/chat/completions'
  | '/v1/responses'
  | '/v1/embeddings'
  | '/v1/completions'
  | '/v1/moderations';

/** One line of results.jsonl (and of each attempt's results file). */
export interface ResultLine {
  custom_id: string;
  status: RequestStatus;
  response: { status_code: number; request_id: string; body: unknown } | null;
  /** The generated text of a success, whatever the provider (absent where none was generated). */
  output_text?: string;
  /** The parsed structured output of a success whose text matched its schema. */
  output?: unknown;
  error: { code: string; message: string } | null;
  attempts: number;
  /** Null for a request that was never submitted (a run cancelled before its batch). */
  batch_id: string | null;
  /** Sent through the synchronous API to meet the run's deadline, at the standard price. */
  via?: 'sync';
  /** Answered from the result cache, with the run that paid for it (attempts is then 0). */
  cached?: true;
  cached_run_id?: string;
}

/** A part of the input: a contiguous slice of input lines stored in the artifact store. */
export interface PartRef {
  /** 1-based part number. */
  index: number;
  /** The part's JSONL. */
  artifact: ArtifactName;
  /** Number of request lines. */
  requests: number;
  /** Size in bytes. */
  bytes: number;
}

export interface PrepareInput {
  runId: string;
  /** The run's provider, whose own request shape the parts take (absent: OpenAI's). */
  provider?: ProviderName;
  /** The requests JSONL. */
  inputFile: InputLocation;
  /** Expected endpoint; when absent the first line's url decides. */
  endpoint?: BatchEndpoint;
  maxRequestsPerBatch: number;
  maxBytesPerBatch: number;
  /** The client's validation of the same file, which prepare need not repeat. */
  validated?: ClientValidation;
  /** Input lines submit found in the result cache, before 0.5.1 (`cached.jsonl`): in no part. */
  cached?: ArtifactName;
  /**
   * Look the requests up in the result cache first (runs since 0.5.1: submit no longer does),
   * writing `cached.jsonl` for merge.
   */
  lookUp?: CacheLookUpInput;
}

export interface CacheLookUpInput {
  /** Serve requests that ask for varied answers too (`--cache-any`). */
  any: boolean;
  /** The run's output schema: a cached output must match it to be served. */
  outputSchema?: ArtifactName;
}

/**
 * What the client's validation found in the input, and which version of the file it read: size
 * and modification time (of the client's file, which an uploaded copy records), so that prepare
 * trusts it only for that file unchanged.
 */
export interface ClientValidation {
  bytes: number;
  mtimeMs: number;
  total: number;
  endpoint: BatchEndpoint;
  model: string | null;
}

export interface PrepareResult {
  endpoint: BatchEndpoint;
  /** The model of every line, or null for endpoints whose bodies carry none. */
  model: string | null;
  total: number;
  parts: PartRef[];
  /** The lines the result cache answered (a run whose prepare looked them up). */
  cached?: CachedLines;
}

/** Input lines the result cache answered, merged in by their line numbers, and how many. */
export interface CachedLines {
  artifact: ArtifactName;
  hits: number;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

export interface ClassifyInput {
  runId: string;
  part: number;
  attempt: number;
  /** The JSONL submitted in this attempt. */
  requests: ArtifactName;
  /** The downloaded output and error files (null when the batch had none). */
  output: ArtifactName | null;
  errors: ArtifactName | null;
  /** Empty for requests never submitted (a part cancelled before its batch). */
  batchId: string;
  /** The status the batch ended in (cancelled for requests never submitted). */
  batchStatus: BatchStatus;
  /** When true nothing is scheduled for resubmission: leftovers become final. */
  lastAttempt: boolean;
  /** The run's provider: unless it translates them, its lines (schemas too) are OpenAI's. */
  provider?: ProviderName;
  /** The run's output schema (`submit --output-schema`), which every success must match. */
  outputSchema?: ArtifactName;
  /** Store every success in the result cache. */
  cache?: boolean;
  /**
   * The batch was cancelled to meet the deadline: what it left unfinished is worth another
   * attempt (the synchronous one), unlike a cancel the user asked for.
   */
  hedge?: boolean;
  /** The output came from the synchronous API: its lines say so. */
  via?: 'sync';
}

export interface ClassifyResult {
  /** This attempt's per-request results (one line per submitted request). */
  results: ArtifactName;
  /** Final counts among the requests of this attempt (retry ones excluded). */
  counts: StatusCounts;
  /** Requests to resubmit, and the artifact holding their request lines (null when none). */
  retry: number;
  retryRequests: ArtifactName | null;
  usage: Usage;
  /** Successes whose output did not match their schema, retried or not (absent: no schema). */
  invalidOutputs?: number;
}

export interface MergeInput {
  runId: string;
  /**
   * Per part, its input slice, the results files of its attempts in order, and the usage of
   * its successes as classify counted it.
   */
  parts: { part: PartRef; results: ArtifactName[]; usage: Usage }[];
  /** Status of requests with no result at all (parts never started because the run stopped). */
  unfinishedStatus?: 'cancelled' | 'expired';
  /** Input lines the result cache answered, merged in by their line numbers. */
  cached?: ArtifactName;
}

export interface MergeResult {
  results: ArtifactName;
  counts: StatusCounts & { total: number };
  /** What the provider was paid for: cached answers are not in it. */
  usage: Usage;
  /** Answers from the cache, and the usage they would have cost (absent: no cache lookup). */
  cache?: { hits: number; usage: Usage };
}

/** Options of a run, as the CLI and client library pass them. */
export interface RunOptions {
  /** The batch API the run goes through (default openai). */
  provider?: ProviderName;
  /** Expected endpoint; when absent the first line's url decides. */
  endpoint?: BatchEndpoint;
  maxAttempts: number;
  /** Shortest wait between two polls of a batch, in seconds. */
  pollIntervalSeconds: number;
  /** Longest wait between two polls; the interval grows toward it while nothing changes. */
  maxPollIntervalSeconds: number;
  /**
   * How long an ended batch may report results without their file ids before its part fails
   * (default one hour; providers usually publish them within seconds).
   */
  maxFilesWaitSeconds?: number;
  maxRequestsPerBatch: number;
  maxBytesPerBatch: number;
  maxConcurrentBatches: number;
  /** User metadata copied onto every provider batch (at most 12 pairs; Nightshift uses 4). */
  metadata: Record<string, string>;
  /** A spending limit the run keeps while it runs: no resubmission may take it over. */
  budget?: Budget;
  /**
   * Leave each attempt's files (upload, output, error) at the provider instead of deleting
   * them once the results are stored; they still expire there after a week.
   */
  keepProviderFiles?: boolean;
  /**
   * The run's JSON Schema for every response's output, as an artifact the client stored at
   * submit time (`submit --output-schema`).
   */
  outputSchema?: ArtifactName;
  /**
   * Look requests up in the result cache and store every success in it (the client set it;
   * absent in older runs). `any`: serve requests that ask for varied answers too.
   */
  cache?: boolean | 'any';
  /** Seconds in validating, finalizing or cancelling after which a batch is flagged stuck. */
  stuckAfterSeconds?: StuckThresholds;
  /**
   * Children one workflow execution starts at most: a run of more parts starts them through
   * groups, in levels (workflows/group.ts; default 1,000, `NIGHTSHIFT_FAN_OUT_WIDTH`).
   */
  fanOutWidth?: number;
  /** When every request must be done by; what a batch cannot finish by then goes synchronous. */
  deadline?: Deadline;
  /**
   * The enqueued-token ledger of the run's provider, account and model (`workflows/ledger.ts`),
   * where each batch reserves its input tokens first (absent: no quota is set for them).
   */
  ledger?: { workflowId: string };
}

export interface CountTokensInput {
  runId: string;
  requests: ArtifactName;
}

/** A run's deadline and how its synchronous fallback is planned (`workflows/deadline.ts`). */
export interface Deadline {
  /** ISO time. */
  at: string;
  /** Slack kept before the deadline: the fallback is planned to end this long before it. */
  marginSeconds: number;
  /** Synchronous requests in flight at once, per part. */
  syncConcurrency: number;
  /** The expected time of one synchronous request, which with the concurrency gives the pace. */
  syncSecondsPerRequest: number;
}

/** The deadline fallback of one attempt's leftovers (`activities/sync.ts`). */
export interface SyncInput {
  runId: string;
  provider: ProviderName;
  part: number;
  /** The attempt the fallback is: the one after the cancelled batch's. */
  attempt: number;
  requests: ArtifactName;
  /** The run's model (Gemini's lines name none). */
  model: string | null;
  concurrency: number;
}

export interface SyncResult {
  /** The answers, as a batch output file (classify reads it). */
  output: ArtifactName;
  /** Requests sent (on a resumed activity, those it sent itself). */
  sent: number;
  /** 429 answers met, each waited out and sent again. */
  rateLimited: number;
  seconds: number;
}

/** The run's budget and the batch price it is counted in (per token, USD). */
export interface Budget {
  maxUsd: number;
  inputUsdPerToken: number;
  outputUsdPerToken: number;
  /**
   * The estimate's cost of one request at the batch price (an upper bound): what a resubmission
   * is priced at before any request of the part has succeeded (absent in older runs).
   */
  usdPerRequest?: number;
}

/** A part asks the run whether resubmitting its leftovers stays within the budget. */
export interface BudgetRequest {
  part: number;
  attempt: number;
  /** What the attempt just collected cost. */
  spentUsd: number;
  /** What resubmitting its leftovers is expected to cost. */
  retryUsd: number;
  /** The leftovers would go through the synchronous API, this many (absent: as a batch). */
  sync?: { requests: number };
}

export interface BudgetReply {
  attempt: number;
  granted: boolean;
  /** Why not, in words for the summary. */
  reason?: string;
}

export interface RunInput {
  /** The requests JSONL, where the workers' store reads it. */
  inputFile: InputLocation;
  options: RunOptions;
  /** ISO time the client submitted the run, for the summary. */
  submittedAt: string;
  validated?: ClientValidation;
  /** The lines the result cache answered at submit, in runs before 0.5.1 (prepare looks now). */
  cached?: CachedLines;
}

/** Provider batch state, as the poll activity reports it (no bodies). */
export interface BatchSnapshot {
  id: string;
  status: BatchStatus;
  requestCounts: { total: number; completed: number; failed: number };
  outputFileId: string | null;
  errorFileId: string | null;
  errors: { code: string; message: string; line: number | null }[];
}

export interface BatchRecord {
  batch_id: string;
  part: number;
  attempt: number;
  status: BatchStatus;
  request_counts: { total: number; completed: number; failed: number };
  /** Outputs of this attempt that did not match their schema (absent when none had one). */
  invalid_outputs?: number;
}

export type PartPhase =
  | 'pending'
  | 'uploading'
  | 'creating'
  | 'waiting'
  | 'backing-off'
  /** The batch ended but the provider has not published its result files yet. */
  | 'awaiting-files'
  | 'downloading'
  | 'classifying'
  | 'cancelling'
  /** Sending the leftovers through the synchronous API, to meet the deadline. */
  | 'syncing'
  /** Waiting for the enqueued-token ledger to grant the batch's tokens. */
  | 'waiting-for-quota'
  | 'done';

export interface PartProgress {
  part: number;
  requests: number;
  phase: PartPhase;
  attempt: number;
  batchId: string | null;
  providerStatus: BatchStatus | null;
  requestCounts: { total: number; completed: number; failed: number };
  counts: StatusCounts;
  /** Set while the batch has been in a passing state for longer than expected. */
  stuck?: StuckBatch;
  /** Set once the part decided its batch would miss the deadline. */
  hedge?: HedgeRecord;
  /** Set while the part waits for its batch's tokens in the ledger. */
  quota?: { ledger: string; tokens: number; since: string };
}

export type RunStatus =
  | 'preparing'
  | 'running'
  | 'merging'
  | 'completed'
  | 'partial'
  | 'cancelled'
  | 'failed';

export interface RunProgress {
  runId: string;
  status: RunStatus;
  cancelRequested: boolean;
  total: number;
  /** Requests the result cache answered (known once prepare looked): sent in no part. */
  cached?: number;
  endpoint: string | null;
  model: string | null;
  parts: PartProgress[];
}

/** What a batch (child) workflow returns to the run: references and counts only. */
export interface PartOutcome {
  part: number;
  results: ArtifactName[];
  batches: BatchRecord[];
  counts: StatusCounts;
  usage: Usage;
  cancelled: boolean;
  /** Set when the part stopped resubmitting because the run's budget would be passed. */
  budgetStop?: string;
  /** What went through the synchronous API to meet the deadline (absent: nothing). */
  sync?: PartSync;
  /** Why the part cancelled its batch for the synchronous API, and when (absent: it did not). */
  hedge?: HedgeRecord;
}

export interface PartSync {
  /** Requests sent, and the usage of their answers (billed at the standard price). */
  requests: number;
  succeeded: number;
  usage: Usage;
  rateLimited: number;
  seconds: number;
}

export interface HedgeRecord {
  part: number;
  /** ISO time of the decision. */
  at: string;
  /** Requests the batch had not finished. */
  unfinished: number;
  reason: string;
}

export interface CostUsd {
  batch: number;
  standard_equivalent: number;
  saved: number;
}

/** summary.json (docs/DESIGN.md section 4), also the run workflow's result. */
export interface RunSummary {
  run_id: string;
  status: 'completed' | 'partial' | 'cancelled' | 'failed';
  endpoint: string;
  model: string | null;
  counts: StatusCounts & { total: number };
  batches: BatchRecord[];
  usage: Usage;
  cost_usd: CostUsd | null;
  /** Present when the run had a budget: what was spent and why resubmitting stopped. */
  budget?: { max_usd: number; spent_usd: number; stopped: string[] };
  /** Present when outputs were validated: invalid outputs per attempt number, retried or not. */
  invalid_outputs_by_attempt?: Record<string, number>;
  /**
   * Present when the run looked its requests up in the result cache: the requests answered
   * from it (counted as succeeded, not in `usage` nor `cost_usd`), their tokens, and what
   * they would have cost at the batch price.
   */
  cache?: { hits: number; usage: Usage; saved_usd: number | null };
  /**
   * Present when the run had a deadline: whether every request was final by it, and which
   * parts sent their leftovers through the synchronous API.
   */
  deadline?: { at: string; met: boolean; hedges: HedgeRecord[] };
  /**
   * Present when requests went through the synchronous API: how many, their tokens (not in
   * `usage`), what they cost at the standard price, and what the same tokens cost beyond the
   * batch price (`extra_usd`).
   */
  sync?: {
    requests: number;
    succeeded: number;
    usage: Usage;
    cost_usd: number | null;
    extra_usd: number | null;
    rate_limited: number;
    /** The longest part's synchronous phase: what to tune NIGHTSHIFT_SYNC_* by. */
    seconds: number;
  };
  started_at: string;
  finished_at: string;
  duration_s: number;
  results_path: ArtifactName;
}

export interface FinalizeInput {
  runId: string;
  endpoint: string;
  model: string | null;
  startedAt: string;
  cancelled: boolean;
  /** A part failed for good (e.g. the provider rejected its file): the run ends failed. */
  failed: boolean;
  merge: MergeInput;
  batches: BatchRecord[];
  budget?: { max_usd: number; stopped: string[] };
  deadline?: { at: string; hedges: HedgeRecord[] };
  /** The parts' synchronous requests, summed (absent: none). */
  sync?: PartSync;
}

/**
 * What a schedule starts at every firing: a run of the same input, read afresh (a requests file
 * the workers read, or template mode's prompts or records, built again).
 */
export interface ScheduledRunSpec {
  /** The schedule's name: its runs are `<name>-<fire time>`. */
  name: string;
  /** A requests file: an absolute path the workers read, or an `s3://` object of the store. */
  input?: string;
  /** Or template mode: the source (a path the workers read) and how requests are made of it. */
  template?: { source: TemplateSource; options: TemplateOptions };
  /** The run's options, as `submit` takes them. */
  options: Omit<SubmitOptions, 'id'>;
}

export interface PrepareScheduledInput {
  runId: string;
  spec: ScheduledRunSpec;
}
