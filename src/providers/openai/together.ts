import type { Batch } from 'openai/resources/batches';

/**
 * Together AI's Batch and Files APIs (https://docs.together.ai/docs/inference/batch/manage,
 * https://docs.together.ai/reference/batch-create, …/batch-list, …/batch-cancel,
 * …/upload-file) follow OpenAI's paths under `/v1` but not its shapes. This `fetch`, given to
 * the OpenAI SDK's client of the `together` profile, rewrites what differs so that
 * `OpenAIBatchProvider` runs unchanged:
 *
 * - uploads: `POST /files` is Together's signed-URL flow; a multipart upload goes to
 *   `POST /files/upload`, which also wants `file_name` and `file_type`;
 * - the create answers `{job, warning}`; get and cancel answer the job itself; the list answers
 *   a bare array of jobs, without paging (so: one page, `has_more: false`);
 * - a job's `status` is UPPERCASE, its times RFC 3339, its failure one `error` string, and it
 *   keeps no metadata and counts no requests (only `progress`, a percentage).
 *
 * Requests stay counted as 0: Nightshift compares counts with the result files (a short output
 * file is retried as a truncated download, a count with no file yet waits for it), and a guess
 * from the percentage would turn those checks into false alarms. The wait for files a count
 * would give is kept another way: a COMPLETED job that names neither file yet reads as
 * `finalizing`, OpenAI's status for results still being written.
 */
export function togetherFetch(fetch: typeof globalThis.fetch = globalThis.fetch) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const method = (init?.method ?? 'GET').toUpperCase();
    if (method === 'POST' && url.pathname.endsWith('/files') && init?.body instanceof FormData) {
      return fetch(`${url.href.replace(/\/files$/, '/files/upload')}`, {
        ...init,
        body: multipartUpload(init.body),
      });
    }
    const response = await fetch(input, init);
    const route = /\/batches(\/[^/]+(\/cancel)?)?$/.exec(url.pathname);
    if (!route || !response.ok) return response;
    const body = (await response.json()) as unknown;
    // The body is rewritten, so the length and encoding the server sent no longer hold.
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    headers.delete('content-encoding');
    return Response.json(openAIShape(method, route[1] === undefined, body), {
      status: response.status,
      headers,
    });
  };
}

/** The OpenAI SDK's multipart upload, with the fields Together's `/files/upload` requires. */
function multipartUpload(form: FormData): FormData {
  const file = form.get('file');
  if (file instanceof File && !form.has('file_name')) form.set('file_name', file.name);
  if (!form.has('file_type')) form.set('file_type', 'jsonl');
  return form;
}

function openAIShape(method: string, collection: boolean, body: unknown): unknown {
  if (!collection) return batchOf(body as TogetherJob);
  if (method === 'POST') return batchOf((body as { job: TogetherJob }).job);
  return { object: 'list', data: (body as TogetherJob[]).map(batchOf), has_more: false };
}

/** A Together batch job (https://docs.together.ai/reference/batch-get). */
export interface TogetherJob {
  id: string;
  status: 'VALIDATING' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'EXPIRED' | 'CANCELLED';
  input_file_id: string;
  endpoint: string;
  created_at: string;
  completed_at?: string | null;
  output_file_id?: string | null;
  error_file_id?: string | null;
  /** Percent done, 0 to 100. */
  progress?: number;
  error?: string | null;
  model_id?: string | null;
}

function batchOf(job: TogetherJob): Batch {
  // Together may send "" for a file not written yet.
  const outputFileId = job.output_file_id || undefined;
  const errorFileId = job.error_file_id || undefined;
  const status = job.status.toLowerCase() as Batch['status'];
  return {
    id: job.id,
    object: 'batch',
    endpoint: job.endpoint,
    input_file_id: job.input_file_id,
    completion_window: '24h',
    status: status === 'completed' && !outputFileId && !errorFileId ? 'finalizing' : status,
    output_file_id: outputFileId,
    error_file_id: errorFileId,
    created_at: seconds(job.created_at),
    completed_at: job.completed_at ? seconds(job.completed_at) : undefined,
    errors: job.error ? { object: 'list', data: [{ code: '', message: job.error }] } : undefined,
    request_counts: { total: 0, completed: 0, failed: 0 },
    metadata: null,
  };
}

function seconds(rfc3339: string): number {
  return Math.floor(Date.parse(rfc3339) / 1000);
}
