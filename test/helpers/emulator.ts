import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import OpenAI, { toFile } from 'openai';
import type { Batch, BatchCreateParams } from 'openai/resources/batches';
import { parse } from 'yaml';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../src/emulator/index.js';

// OpenAI's published schemas (MIT), vendored so the check runs on any clone.
const SPEC_PATH = new URL('../../../spec/openai/openai-batch-api.yaml', import.meta.url);

export type Line = Record<string, unknown>;

export interface Recorded {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

export interface Harness {
  emu: Emulator;
  client: OpenAI;
  close(): Promise<void>;
}

/** Every JSON response any harness client received in this test process. */
const responses: Promise<Recorded>[] = [];

/** An emulator on a free port and an SDK client for it that records every response. */
export async function startHarness(
  options: EmulatorOptions = {},
  clientOptions: { maxRetries?: number; webhookSecret?: string } = {},
): Promise<Harness> {
  const emu = await startEmulator({
    timing: { validatingMs: 5, finalizingMs: 5, cancellingMs: 5 },
    ...options,
  });
  const client = new OpenAI({
    apiKey: 'sk-test',
    baseURL: `${emu.url}/v1`,
    maxRetries: 2,
    ...clientOptions,
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      if (response.headers.get('content-type')?.includes('application/json')) {
        responses.push(record(init?.method ?? 'GET', String(input), response.clone()));
      }
      return response;
    },
  });
  return { emu, client, close: () => emu.close() };
}

async function record(method: string, url: string, response: Response): Promise<Recorded> {
  return {
    method,
    path: new URL(url).pathname,
    status: response.status,
    body: await response.json(),
  };
}

export function chatLine(customId: string, content: string, extra: Line = {}): Line {
  return {
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra },
  };
}

export function chatLines(count: number, prefix = 'r'): Line[] {
  return Array.from({ length: count }, (_, i) =>
    chatLine(`${prefix}-${i}`, `Question number ${i}?`),
  );
}

export async function upload(client: OpenAI, lines: (Line | string)[], filename = 'input.jsonl') {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
  return client.files.create({
    file: await toFile(Buffer.from(`${text}\n`), filename),
    purpose: 'batch',
  });
}

export async function createBatch(
  client: OpenAI,
  lines: (Line | string)[],
  extra: { metadata?: Record<string, string>; endpoint?: BatchCreateParams['endpoint'] } = {},
): Promise<Batch> {
  const file = await upload(client, lines);
  return client.batches.create({
    input_file_id: file.id,
    endpoint: extra.endpoint ?? '/v1/chat/completions',
    completion_window: '24h',
    metadata: extra.metadata,
  });
}

const ENDED = ['completed', 'failed', 'expired', 'cancelled'];

/** Polls until the batch reaches one of `statuses` (default: any final status), bounded. */
export async function waitFor(
  client: OpenAI,
  batchId: string,
  statuses: string[] = ENDED,
  timeoutMs = 5_000,
): Promise<Batch> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await client.batches.retrieve(batchId);
    if (statuses.includes(batch.status)) return batch;
    assert.ok(
      Date.now() < deadline,
      `batch ${batchId} still ${batch.status} after ${timeoutMs} ms`,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function readLines(
  client: OpenAI,
  fileId: string | null | undefined,
): Promise<Line[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type', 'param', 'code'],
      properties: { message: { type: 'string' }, type: { type: 'string' } },
    },
  },
};

const SCHEMA_BY_ROUTE: [string, RegExp, string][] = [
  ['POST', /^\/v1\/files$/, 'OpenAIFile'],
  ['GET', /^\/v1\/files$/, 'ListFilesResponse'],
  ['GET', /^\/v1\/files\/[^/]+$/, 'OpenAIFile'],
  ['DELETE', /^\/v1\/files\/[^/]+$/, 'DeleteFileResponse'],
  ['POST', /^\/v1\/batches$/, 'Batch'],
  ['GET', /^\/v1\/batches$/, 'ListBatchesResponse'],
  ['GET', /^\/v1\/batches\/[^/]+$/, 'Batch'],
  ['POST', /^\/v1\/batches\/[^/]+\/cancel$/, 'Batch'],
];

/** Validators for the yaml's component schemas, with OpenAPI's nullability gaps closed. */
export async function specValidator(): Promise<(schema: string, value: unknown) => string | null> {
  const spec = parse(await readFile(SPEC_PATH, 'utf8'));
  const schemas = spec.components.schemas;
  // The real API sends null first/last ids for an empty list; the spec says they are required.
  schemas.ListFilesResponse.required = ['object', 'data', 'has_more'];
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addFormat('unixtime', true);
  ajv.addFormat('binary', true);
  ajv.addSchema({ $id: 'openai', components: { schemas } });
  ajv.addSchema({ $id: 'error', ...ERROR_SCHEMA });
  const cache = new Map<string, ValidateFunction>();
  return (schema, value) => {
    const id = schema === 'error' ? 'error' : `openai#/components/schemas/${schema}`;
    let validate = cache.get(id);
    if (!validate) {
      validate = ajv.getSchema(id);
      assert.ok(validate, `no schema ${id}`);
      cache.set(id, validate);
    }
    return validate(schema === 'error' ? value : stripNulls(value))
      ? null
      : ajv.errorsText(validate.errors);
  };
}

/** Checks every JSON response recorded so far against the yaml schema of its route. */
export async function assertResponsesMatchSpec(): Promise<number> {
  const validate = await specValidator();
  const recorded = await Promise.all(responses);
  for (const response of recorded) {
    const schema =
      response.status >= 400
        ? 'error'
        : SCHEMA_BY_ROUTE.find(([m, p]) => m === response.method && p.test(response.path))?.[2];
    assert.ok(schema, `no schema for ${response.method} ${response.path}`);
    const problem = validate(schema, response.body);
    assert.equal(problem, null, `${response.method} ${response.path} vs ${schema}: ${problem}`);
  }
  return recorded.length;
}

/** The spec leaves out nullability; a null optional field means "absent". */
function stripNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, stripNulls(v)]),
  );
}
