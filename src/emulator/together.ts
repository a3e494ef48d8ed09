import type { ServerResponse } from 'node:http';
import type { batchObject } from './batches-routes.js';
import { reshapeAnswer } from './http.js';
import type { EndpointName } from './types.js';

/*
 * Together AI's Batch and Files APIs, served under `/together/v1` by OpenAI's routes with their
 * answers reshaped (https://docs.together.ai/reference/batch-create, …/batch-get, …/batch-list,
 * …/batch-cancel, …/upload-file): a multipart upload goes to `/files/upload`, for purpose
 * `batch-api`; the create answers `{job}`; jobs have UPPERCASE statuses, RFC 3339 times, a
 * `progress` percentage and one `error` string, and no request counts or metadata; lists are
 * bare (batches) or `{data}` (files), without paging. Calls, faults and stats are OpenAI's
 * routes' own.
 */

/** The purpose Together's batch input is uploaded with, where OpenAI's is `batch`. */
export const TOGETHER_BATCH_PURPOSE = 'batch-api';

/**
 * The OpenAI route path a Together path is served by, or null for a path outside `/together`.
 * `POST /files` (Together's signed-URL upload) is not emulated: its path matches no route.
 */
export function togetherPath(method: string | undefined, pathname: string): string | null {
  const match = /^\/together\/v1\/(.*)$/.exec(pathname);
  if (!match) return null;
  const rest = match[1];
  if (rest === 'files/upload') return method === 'POST' ? '/v1/files' : pathname;
  if (rest === 'files' && method === 'POST') return pathname;
  return `/v1/${rest}`;
}

type OpenAIBatch = ReturnType<typeof batchObject>;

/** Together has no `finalizing` or `cancelling`: a batch in either is still IN_PROGRESS. */
const STATUSES: Record<OpenAIBatch['status'], string> = {
  validating: 'VALIDATING',
  in_progress: 'IN_PROGRESS',
  finalizing: 'IN_PROGRESS',
  cancelling: 'IN_PROGRESS',
  completed: 'COMPLETED',
  failed: 'FAILED',
  expired: 'EXPIRED',
  cancelled: 'CANCELLED',
};

function rfc3339(seconds: number | null): string | null {
  return seconds === null ? null : new Date(seconds * 1000).toISOString();
}

function job(batch: OpenAIBatch) {
  const { total, completed, failed } = batch.request_counts;
  return {
    id: batch.id,
    user_id: 'user_nightshift_emulator',
    input_file_id: batch.input_file_id,
    status: STATUSES[batch.status],
    job_deadline: rfc3339(batch.expires_at),
    created_at: rfc3339(batch.created_at),
    endpoint: batch.endpoint,
    progress: total > 0 ? Math.floor((100 * (completed + failed)) / total) : 0,
    model_id: batch.model,
    output_file_id: batch.output_file_id,
    error_file_id: batch.error_file_id,
    error: batch.errors?.data.map((e) => e.message).join('; ') ?? null,
    completed_at: rfc3339(
      batch.completed_at ?? batch.failed_at ?? batch.expired_at ?? batch.cancelled_at,
    ),
  };
}

interface OpenAIFile {
  id: string;
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
}

function file({ id, bytes, created_at, filename, purpose }: OpenAIFile) {
  return { id, object: 'file', created_at, filename, bytes, purpose, Processed: true };
}

/** A successful answer of an OpenAI route, as Together words it. */
function togetherAnswer(route: EndpointName, body: unknown): unknown {
  switch (route) {
    case 'batches.create':
      return { job: job(body as OpenAIBatch) };
    case 'batches.retrieve':
    case 'batches.cancel':
      return job(body as OpenAIBatch);
    case 'batches.list':
      return (body as { data: OpenAIBatch[] }).data.map(job);
    case 'files.create':
    case 'files.retrieve':
      return file(body as OpenAIFile);
    case 'files.list':
      return { data: (body as { data: OpenAIFile[] }).data.map(file) };
    default:
      return body;
  }
}

/** Has the call's successful answer reshaped into Together's words. */
export function answerAsTogether(res: ServerResponse, route: EndpointName): void {
  reshapeAnswer.set(res, (body) => togetherAnswer(route, body));
}
