// Types shared by workflows, activities and clients. Workflow-safe: no Node imports.

/** Endpoints the Batch API accepts. */
export type BatchEndpoint =
  | '/v1/chat/completions'
  | '/v1/responses'
  | '/v1/embeddings'
  | '/v1/completions'
  | '/v1/moderations';

/** Final status of one request, as written to results.jsonl. */
export type RequestStatus = 'succeeded' | 'failed' | 'expired' | 'cancelled';

/** A part of the input: a contiguous slice of input lines stored in the artifact store. */
export interface PartRef {
  /** 1-based part number. */
  part: number;
  /** Artifact name (relative to the run folder) of the part's JSONL. */
  path: string;
  /** Number of request lines. */
  requests: number;
  /** Size in bytes. */
  bytes: number;
}

export interface PrepareInput {
  runId: string;
  /** Absolute path of the requests JSONL on the worker's file system. */
  inputPath: string;
  /** Expected endpoint; when absent the first line's url decides. */
  endpoint?: BatchEndpoint;
  maxRequestsPerBatch: number;
  maxBytesPerBatch: number;
}

export interface PrepareResult {
  endpoint: BatchEndpoint;
  /** The model of every line, or null for endpoints whose bodies carry none. */
  model: string | null;
  total: number;
  parts: PartRef[];
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

export interface StatusCounts {
  succeeded: number;
  failed: number;
  expired: number;
  cancelled: number;
}

export interface ClassifyInput {
  runId: string;
  part: number;
  attempt: number;
  /** Artifact name of the JSONL that was submitted in this attempt. */
  inputPath: string;
  /** Artifact names of the downloaded output / error files (null when the batch had none). */
  outputPath: string | null;
  errorPath: string | null;
  batchId: string;
  /** Provider status the batch ended in: completed | expired | cancelled | failed. */
  batchStatus: string;
  /** When true nothing is scheduled for resubmission: leftovers become final. */
  lastAttempt: boolean;
}

export interface ClassifyResult {
  /** Artifact name of this attempt's per-request results (one line per submitted request). */
  resultsPath: string;
  /** Final counts among the requests of this attempt (retry ones excluded). */
  counts: StatusCounts;
  /** Requests to resubmit, and the artifact holding their request lines (null when none). */
  retry: number;
  retryPath: string | null;
  usage: Usage;
}

export interface MergeInput {
  runId: string;
  /** Per part, its input slice and the results files of its attempts in order. */
  parts: { part: PartRef; resultsPaths: string[] }[];
}

export interface MergeResult {
  resultsPath: string;
  counts: StatusCounts & { total: number };
  usage: Usage;
}
