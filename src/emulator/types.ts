/**
 * Names under which calls are counted and faults are targeted; one per method of the official
 * SDKs (OpenAI's `files.*` and `batches.*`, Anthropic's `messages.batches.*`), and one per Gemini
 * REST method (`gemini.files.upload` counts every request of a resumable upload).
 */
export const ENDPOINT_NAMES = [
  'files.create',
  'files.retrieve',
  'files.content',
  'files.list',
  'files.delete',
  'batches.create',
  'batches.retrieve',
  'batches.list',
  'batches.cancel',
  'messages.batches.create',
  'messages.batches.retrieve',
  'messages.batches.list',
  'messages.batches.cancel',
  'messages.batches.results',
  'messages.batches.delete',
  'gemini.files.upload',
  'gemini.files.get',
  'gemini.files.list',
  'gemini.files.download',
  'gemini.files.delete',
  'gemini.batches.create',
  'gemini.batches.get',
  'gemini.batches.list',
  'gemini.batches.cancel',
  'gemini.batches.delete',
  'chat.completions.create',
  'responses.create',
  'embeddings.create',
  'completions.create',
  'moderations.create',
  'messages.create',
  'gemini.models.generateContent',
] as const;

export type EndpointName = (typeof ENDPOINT_NAMES)[number];

export const FAULT_KINDS = [
  'http_429',
  'http_500',
  'http_503',
  'reset',
  'reset_after',
  'slow',
  'truncate',
  'batch_token_limit',
  'expire_at_fraction',
  'line_error',
  'late_file_ids',
  'invalid_output',
  'stuck_finalizing',
  'stall_at_fraction',
  'stuck_validating',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRule {
  endpoint?: EndpointName | '*';
  kind: FaultKind;
  /** Fire at most this many times (default: unlimited). */
  times?: number;
  /** Probability (0..1) that a matching call or batch is hit, drawn from the seeded generator. */
  rate?: number;
  /** http_429: the `retry-after` the client is told (fractions allowed; also sent as `retry-after-ms`). */
  retryAfterSeconds?: number;
  /**
   * slow: added latency before the call is served; stuck_finalizing, stuck_validating: how much
   * longer than usual the batch stays in `finalizing` or `validating` (default 60,000).
   */
  delayMs?: number;
  /**
   * expire_at_fraction: share of requests done when the batch expires; stall_at_fraction: share
   * done when it stops making progress (until cancelled, or expired at the end of its window);
   * truncate: share of bytes sent.
   */
  fraction?: number;
  /** line_error: HTTP status of the failing lines (default 500). */
  statusCode?: number;
  /**
   * line_error: share of the batch's lines that fail (default 0.1); invalid_output: share of
   * its successful lines whose output misses the schema the request asked for (default 0.1).
   */
  lineRate?: number;
  /**
   * late_file_ids: how many retrieves of the ended batch answer without its `output_file_id` and
   * `error_file_id` (default 1), or, for an Anthropic batch, without its `results_url`, as
   * providers do when the status is published before the files.
   */
  reads?: number;
  /**
   * Batch faults only: hit only batches whose `metadata.nightshift_attempt` (or `attempt`) is one
   * of these. Anthropic's batches carry no metadata: a rule with `attempts` never hits them.
   */
  attempts?: number[];
}

export interface EmulatorTiming {
  validatingMs?: number;
  /** In-progress time per request; a batch of N requests is in progress N × this. */
  perRequestMs?: number;
  finalizingMs?: number;
  /** The "24h" completion window, counted from creation. */
  completionWindowMs?: number;
  cancellingMs?: number;
}

export interface EmulatorOptions {
  /** 0 = any free port (default). */
  port?: number;
  host?: string;
  /**
   * Where uploaded and generated files live; default a fresh temp dir, removed on close. A
   * directory given here also keeps the records (`state.json`): an emulator started again on it
   * has the same files and batches, and resumes the batches that were running.
   */
  dataDir?: string;
  timing?: EmulatorTiming;
  webhook?: { url: string; secret: string };
  /** Default true: 401 without `Authorization: Bearer …`. */
  requireAuth?: boolean;
  /** Seeds output order, fault rates and injected line errors. */
  seed?: number;
  /** Batches whose input tokens plus those of running batches of the same model exceed it fail. */
  enqueuedTokenLimit?: number;
  /** Upload limit (default 200 MB, OpenAI's batch input limit); lower it in tests. */
  maxFileBytes?: number;
  /** The synchronous endpoints' latency and rate limit (default: no delay, no limit). */
  sync?: SyncSettings;
}

/** How the synchronous endpoints (chat completions, responses, embeddings, messages…) answer. */
export interface SyncSettings {
  /** Milliseconds before each answer. */
  latencyMs?: number;
  /** Requests served per window, all synchronous endpoints together; past it, 429. */
  requestsPerWindow?: number;
  /** The window's length (default 60,000 ms, a requests-per-minute limit). */
  windowMs?: number;
}

export interface SyncStats {
  served: number;
  /** Requests answered 429 for the rate limit. */
  rateLimited: number;
  /** Requests that came while the last 429's `retry-after` still ran. */
  ignoredRetryAfter: number;
}

export interface CallCount {
  total: number;
  /** By HTTP status, or `reset` / `truncated` for injected connection faults. */
  byStatus: Record<string, number>;
}

export interface FileStat {
  id: string;
  purpose: string;
  filename: string;
  bytes: number;
  lines: number;
  created_at: number;
  /** When the file expires (and is gone from the API), or null for never. */
  expires_at: number | null;
  /** Deleted by a `files.delete` call. */
  deleted: boolean;
}

export interface BatchStat {
  id: string;
  /** The API the batch was made through. */
  api: 'openai' | 'anthropic' | 'gemini';
  input_file_id: string;
  endpoint: string;
  model: string | null;
  metadata: Record<string, string> | null;
  status: string;
  request_counts: { total: number; completed: number; failed: number };
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
}

export interface FaultStat {
  id: string;
  rule: FaultRule;
  fired: number;
}

export interface WebhookStat {
  event_id: string;
  type: string;
  batch_id: string;
  attempts: number;
  delivered: boolean;
}

/**
 * `files`, `batches` and `submissions` cover everything the data dir holds, across restarts;
 * `calls`, `faults` and `webhooks` only what this process saw.
 */
export interface EmulatorStats {
  calls: Partial<Record<EndpointName, CallCount>>;
  files: FileStat[];
  batches: BatchStat[];
  /** custom_id → how many times a batch that passed validation carried it. */
  submissions: Record<string, number>;
  faults: FaultStat[];
  webhooks: WebhookStat[];
  /** The synchronous endpoints, since the last reset. */
  sync: SyncStats;
}

export interface Emulator {
  /** `http://host:port`, without `/v1`. */
  url: string;
  port: number;
  /** Running batches stop where they are; with a given `dataDir`, to resume on the next start. */
  close(): Promise<void>;
  stats(): EmulatorStats;
  /**
   * Forgets every file, batch, fault and count, the saved ones included; running batches stop
   * where they are.
   */
  reset(): void;
  addFault(rule: FaultRule): string;
  clearFaults(): void;
  /** Sets the synchronous endpoints' latency and rate limit, from now on. */
  configureSync(settings: SyncSettings): void;
}
