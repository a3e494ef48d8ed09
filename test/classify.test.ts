import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { classifyAttempt, classifyRequest, type ProviderLine } from '../activities/classify.js';
import { artifactNames } from '../src/artifacts.js';
import { OutputValidator, requestSchemaOf } from '../src/output-schema.js';
import { LocalArtifactStore } from '../src/store/local.js';
import type { BatchStatus } from '../workflows/contract.js';
import type { ArtifactName, ClassifyInput, ResultLine } from '../workflows/types.js';
import { artifact } from './helpers/names.js';
import { withFreshTmpdir } from './helpers/tmpdir.js';

const store = new LocalArtifactStore(await mkdtemp(join(tmpdir(), 'nightshift-classify-')));
let runs = 0;

const request = (id: string) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'm' },
  });

const ok = (id: string, usage: object = {}): ProviderLine => ({
  id: `resp-${id}`,
  custom_id: id,
  response: { status_code: 200, request_id: `req-${id}`, body: { usage } },
  error: null,
});
const http = (id: string, status: number, error?: object): ProviderLine => ({
  custom_id: id,
  response: { status_code: status, request_id: `req-${id}`, body: error ? { error } : {} },
  error: null,
});
const failure = (id: string, code: string): ProviderLine => ({
  custom_id: id,
  response: null,
  error: { code, message: `${code} happened` },
});

test('each provider line and batch status is classified', () => {
  const cases: [ProviderLine | undefined, BatchStatus, string, boolean, string | null][] = [
    [ok('a'), 'completed', 'succeeded', false, null],
    [http('a', 500), 'completed', 'failed', true, 'http_500'],
    [
      http('a', 429, { code: 'rate_limit_exceeded', message: 'slow' }),
      'completed',
      'failed',
      true,
      'rate_limit_exceeded',
    ],
    [
      http('a', 400, { type: 'invalid_request_error', message: 'bad' }),
      'completed',
      'failed',
      false,
      'invalid_request_error',
    ],
    [failure('a', 'server_error'), 'completed', 'failed', true, 'server_error'],
    [failure('a', 'rate_limit_exceeded'), 'completed', 'failed', true, 'rate_limit_exceeded'],
    [failure('a', 'request_timeout'), 'completed', 'failed', true, 'request_timeout'],
    [failure('a', 'invalid_prompt'), 'completed', 'failed', false, 'invalid_prompt'],
    [failure('a', 'batch_expired'), 'expired', 'expired', true, 'batch_expired'],
    [failure('a', 'batch_cancelled'), 'cancelled', 'cancelled', false, 'batch_cancelled'],
    [undefined, 'expired', 'expired', true, 'batch_expired'],
    [undefined, 'cancelled', 'cancelled', false, 'batch_cancelled'],
    [undefined, 'completed', 'expired', true, 'missing_result'],
  ];
  for (const [entry, batchStatus, status, retryable, code] of cases) {
    const verdict = classifyRequest(entry, batchStatus);
    const label = `${JSON.stringify(entry)} in a ${batchStatus} batch`;
    assert.equal(verdict.status, status, label);
    assert.equal(verdict.retryable, retryable, label);
    assert.equal(verdict.error?.code ?? null, code, label);
  }
  assert.deepEqual(
    classifyRequest(http('a', 400, { code: 'x', message: 'why' }), 'completed').error,
    {
      code: 'x',
      message: 'why',
    },
  );
});

async function attempt(
  ids: string[],
  output: ProviderLine[],
  errors: ProviderLine[],
  overrides: Partial<ClassifyInput> = {},
  line: (id: string) => string = request,
): Promise<ClassifyInput> {
  const runId = `run-${++runs}`;
  await store.writeAtomic(
    runId,
    artifact('parts/part-0001.jsonl'),
    ids.map((id) => line(id)),
  );
  const write = async (name: string, lines: ProviderLine[]) => {
    if (lines.length === 0) return null;
    await store.writeAtomic(
      runId,
      artifact(name),
      lines.map((l) => JSON.stringify(l)),
    );
    return artifact(name);
  };
  return {
    runId,
    part: 1,
    attempt: 1,
    requests: artifact('parts/part-0001.jsonl'),
    output: await write('downloads/out.jsonl', output),
    errors: await write('downloads/err.jsonl', errors),
    batchId: 'batch_1',
    batchStatus: 'completed',
    lastAttempt: false,
    ...overrides,
  };
}

async function results(input: ClassifyInput, name: ArtifactName): Promise<ResultLine[]> {
  const lines: ResultLine[] = [];
  for await (const line of store.readLines(input.runId, name)) lines.push(JSON.parse(line.text));
  return lines;
}

const ids = ['s1', 's2', 'e500', 'f400', 'exp', 'gone'];
const output = [
  ok('s2', { input_tokens: 5, output_tokens: 6, total_tokens: 11 }),
  http('e500', 500),
  ok('s1', { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }),
];
const errors = [http('f400', 400, { code: 'bad', message: 'no' }), failure('exp', 'batch_expired')];

test('one result per submitted request in order; retryables go to the next attempt', async () => {
  const input = await attempt(ids, output, errors, { batchStatus: 'expired' });
  const result = await classifyAttempt(store, input);
  assert.deepEqual(result, {
    results: 'results/part-0001.attempt-1.jsonl',
    counts: { succeeded: 2, invalid_output: 0, failed: 1, expired: 0, cancelled: 0 },
    retry: 3,
    retryRequests: 'parts/part-0001.attempt-2.jsonl',
    usage: { input_tokens: 6, output_tokens: 8, total_tokens: 14 },
  });
  const lines = await results(input, result.results);
  assert.deepEqual(
    lines.map((l) => [l.custom_id, l.status, l.attempts, l.batch_id]),
    [
      ['s1', 'succeeded', 1, 'batch_1'],
      ['s2', 'succeeded', 1, 'batch_1'],
      ['e500', 'failed', 1, 'batch_1'],
      ['f400', 'failed', 1, 'batch_1'],
      ['exp', 'expired', 1, 'batch_1'],
      ['gone', 'expired', 1, 'batch_1'],
    ],
  );
  assert.deepEqual(lines[0]?.response, {
    status_code: 200,
    request_id: 'req-s1',
    body: { usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
  });
  assert.equal(lines[0]?.error, null);
  assert.deepEqual(lines[3]?.error, { code: 'bad', message: 'no' });
  assert.equal(
    await readFile(store.path(input.runId, artifact('parts/part-0001.attempt-2.jsonl')), 'utf8'),
    ['e500', 'exp', 'gone'].map((id) => `${request(id)}\n`).join(''),
  );
});

test('on the last attempt leftovers become final', async () => {
  const input = await attempt(ids, output, errors, {
    batchStatus: 'expired',
    lastAttempt: true,
    attempt: 3,
  });
  const result = await classifyAttempt(store, input);
  assert.deepEqual(result.counts, {
    succeeded: 2,
    invalid_output: 0,
    failed: 2,
    expired: 2,
    cancelled: 0,
  });
  assert.equal(result.retry, 0);
  assert.equal(result.retryRequests, null);
  assert.equal(result.results, 'results/part-0001.attempt-3.jsonl');
  assert.equal(await store.exists(input.runId, artifact('parts/part-0001.attempt-4.jsonl')), false);
  const lines = await results(input, result.results);
  assert.deepEqual(lines[2]?.error, { code: 'http_500', message: 'HTTP 500' });
  assert.ok(lines.every((l) => l.attempts === 3));
});

test('a completed batch with nothing retryable schedules no retry', async () => {
  const input = await attempt(['a', 'b'], [ok('a'), ok('b')], []);
  const result = await classifyAttempt(store, input);
  assert.equal(result.retry, 0);
  assert.equal(result.retryRequests, null);
  assert.deepEqual(result.counts, {
    succeeded: 2,
    invalid_output: 0,
    failed: 0,
    expired: 0,
    cancelled: 0,
  });
});

test('nothing of a cancelled batch is resubmitted', async () => {
  const input = await attempt(
    ['done', 'flaky', 'never', 'marked'],
    [ok('done'), http('flaky', 503)],
    [failure('marked', 'batch_cancelled')],
    { batchStatus: 'cancelled' },
  );
  const result = await classifyAttempt(store, input);
  assert.equal(result.retryRequests, null);
  assert.deepEqual(result.counts, {
    succeeded: 1,
    invalid_output: 0,
    failed: 1,
    expired: 0,
    cancelled: 2,
  });
});

test('requests never submitted (run cancelled first) are cancelled without a batch id', async () => {
  const input = await attempt(['a', 'b'], [], [], { batchId: '', batchStatus: 'cancelled' });
  const result = await classifyAttempt(store, input);
  assert.deepEqual(result.counts, {
    succeeded: 0,
    invalid_output: 0,
    failed: 0,
    expired: 0,
    cancelled: 2,
  });
  const lines = await results(input, result.results);
  assert.ok(lines.every((l) => l.batch_id === null && l.status === 'cancelled'));
});

test('a rerun answers the same, its downloads gone; as the last attempt, leftovers are final', async () => {
  const input = await attempt(ids, output, errors);
  const read = (name: ArtifactName) => readFile(store.path(input.runId, name), 'utf8');
  const first = await classifyAttempt(store, input);
  const files = [await read(first.results), await read(first.retryRequests as ArtifactName)];
  for (const download of [input.output, input.errors]) {
    assert.equal(await store.exists(input.runId, download as ArtifactName), false, download ?? '');
  }
  assert.deepEqual(await classifyAttempt(store, input), first);
  assert.deepEqual(
    [await read(first.results), await read(first.retryRequests as ArtifactName)],
    files,
  );
  // The budget refused the resubmission: the same attempt classified again as the last one.
  const final = await classifyAttempt(store, { ...input, lastAttempt: true });
  const fresh = await classifyAttempt(
    store,
    await attempt(ids, output, errors, { lastAttempt: true }),
  );
  assert.deepEqual(final, { ...fresh, results: first.results });
  assert.equal(final.retry, 0);
  assert.equal(await read(first.results), files[0], 'the results stand');
});

test('an unreadable provider line fails non-retryably', async () => {
  const input = await attempt(['a'], [ok('a')], []);
  await store.writeAtomic(input.runId, artifact('downloads/out.jsonl'), ['{"custom_id":']);
  await assert.rejects(classifyAttempt(store, input), {
    type: 'InvalidProviderOutput',
    nonRetryable: true,
  });
});

test('a part of many spill blocks comes back in order, shuffled and with gaps', async () => {
  const n = 10_000;
  const all = Array.from({ length: n }, (_, i) => `r-${i}-${'x'.repeat(i % 23)}`);
  // Every 7th request has no line; every 5th failed with a 500; output order is reversed and
  // interleaved, as a provider's is; one line answers an id nobody submitted.
  const answered = all.filter((_, i) => i % 7 !== 0);
  const out = answered.map((id, i) => (i % 5 === 0 ? http(id, 500) : ok(id)));
  const shuffled = [...out.filter((_, i) => i % 2 === 0).reverse(), ...out.filter((_, i) => i % 2)];
  const input = await attempt(all, [...shuffled, ok('stranger')], [failure(all[2] as string, 'x')]);
  // The spill goes to the worker's own temp dir: a fresh one here, to see it emptied.
  const { tmp, result } = await withFreshTmpdir(() => classifyAttempt(store, input));
  const lines = await results(input, result.results);
  assert.deepEqual(
    lines.map((l) => l.custom_id),
    all,
  );
  const expected = all.map((_, i) => {
    if (i % 7 === 0) return 'expired';
    return answered.indexOf(all[i] as string) % 5 === 0 ? 'failed' : 'succeeded';
  });
  assert.deepEqual(
    lines.map((l) => l.status),
    expected,
  );
  assert.equal(lines[2]?.status, 'succeeded', 'the output file wins over the error file');
  const retried = expected.filter((s) => s !== 'succeeded').length;
  assert.equal(result.retry, retried);
  assert.equal(result.counts.succeeded, n - retried);
  assert.deepEqual(await readdir(tmp), [], 'no scratch folder left');
});

test('the spill is removed when classify fails', async () => {
  const input = await attempt(['a', 'b'], [ok('a')], []);
  await store.writeAtomic(input.runId, artifact('downloads/out.jsonl'), [
    JSON.stringify(ok('a')),
    '{',
  ]);
  const { tmp, result } = await withFreshTmpdir(() =>
    classifyAttempt(store, input).then(
      () => null,
      (err: unknown) => err,
    ),
  );
  assert.equal((result as { type?: string } | null)?.type, 'InvalidProviderOutput');
  assert.deepEqual(await readdir(tmp), []);
});

const SCHEMA = {
  type: 'object',
  properties: { answer: { type: 'integer' } },
  required: ['answer'],
  additionalProperties: false,
};
const TOKENS = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };

/** A chat request asking for SCHEMA, except `plain-*` ones, which ask for text. */
const structuredRequest = (id: string) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'm',
      ...(id.startsWith('plain')
        ? {}
        : { response_format: { type: 'json_schema', json_schema: { name: 'a', schema: SCHEMA } } }),
    },
  });

const answered = (id: string, content: string): ProviderLine => ({
  custom_id: id,
  response: {
    status_code: 200,
    request_id: `req-${id}`,
    body: { choices: [{ message: { role: 'assistant', content } }], usage: TOKENS },
  },
  error: null,
});

const structuredIds = ['valid', 'mismatch', 'notjson', 'plain'];
const structuredOutput = [
  answered('valid', '{"answer": 42}'),
  answered('mismatch', '{"answer": "many"}'),
  answered('notjson', 'the sky owl'),
  answered('plain', 'the sea'),
];

test('a request asks for a schema through either API, or for any JSON object', () => {
  assert.deepEqual(
    requestSchemaOf({ response_format: { type: 'json_schema', json_schema: { schema: SCHEMA } } }),
    SCHEMA,
  );
  assert.deepEqual(requestSchemaOf({ response_format: { type: 'json_object' } }), {
    type: 'object',
  });
  assert.deepEqual(
    requestSchemaOf({ text: { format: { type: 'json_schema', name: 'a', schema: SCHEMA } } }),
    SCHEMA,
  );
  assert.equal(requestSchemaOf({ response_format: { type: 'text' } }), undefined);
  assert.equal(requestSchemaOf({ text: { format: { type: 'text' } } }), undefined);
  assert.equal(requestSchemaOf({ model: 'm' }), undefined);
});

test('an output is parsed and checked; the errors say where and why', () => {
  const validator = new OutputValidator();
  assert.deepEqual(validator.check('{"answer": 1}', SCHEMA), { ok: true, value: { answer: 1 } });
  assert.deepEqual(validator.check('{"answer": 1.5}', SCHEMA), {
    ok: false,
    message: 'does not match the schema: /answer must be integer',
    final: false,
  });
  assert.deepEqual(validator.check('{}', SCHEMA), {
    ok: false,
    message: "does not match the schema: / must have required property 'answer'",
    final: false,
  });
  const notJson = validator.check('the sky', SCHEMA);
  assert.equal(notJson.ok, false);
  assert.match(!notJson.ok ? notJson.message : '', /^not valid JSON: /);
  assert.equal(validator.check(null, SCHEMA).ok, false);
  const broken = validator.check('{}', { type: 'no-such-type' });
  assert.equal(!broken.ok && broken.final, true);
});

test("outputs that miss their request's schema are invalid and retried; valid ones gain output", async () => {
  const input = await attempt(structuredIds, structuredOutput, [], {}, structuredRequest);
  const result = await classifyAttempt(store, input);
  assert.deepEqual(result.counts, {
    succeeded: 2,
    invalid_output: 0,
    failed: 0,
    expired: 0,
    cancelled: 0,
  });
  assert.equal(result.retry, 2);
  assert.equal(result.invalidOutputs, 2);
  // Invalid outputs were billed all the same.
  assert.equal(result.usage.total_tokens, 12);
  const lines = await results(input, result.results);
  assert.deepEqual(
    lines.map((l) => [l.custom_id, l.status, l.output, l.error?.code ?? null]),
    [
      ['valid', 'succeeded', { answer: 42 }, null],
      ['mismatch', 'invalid_output', undefined, 'invalid_output'],
      ['notjson', 'invalid_output', undefined, 'invalid_output'],
      ['plain', 'succeeded', undefined, null],
    ],
  );
  assert.equal(lines[1]?.error?.message, 'does not match the schema: /answer must be integer');
  assert.equal(lines[1]?.output_text, '{"answer": "many"}');
  assert.equal(
    await readFile(store.path(input.runId, artifact('parts/part-0001.attempt-2.jsonl')), 'utf8'),
    ['mismatch', 'notjson'].map((id) => `${structuredRequest(id)}\n`).join(''),
  );
});

test('on the last attempt invalid outputs stay invalid_output', async () => {
  const input = await attempt(
    structuredIds,
    structuredOutput,
    [],
    { lastAttempt: true },
    structuredRequest,
  );
  const result = await classifyAttempt(store, input);
  assert.equal(result.counts.invalid_output, 2);
  assert.equal(result.retry, 0);
  assert.equal(result.invalidOutputs, 2);
});

test("the run's schema checks lines that carry none; translated lines are checked by it alone", async () => {
  const plainIds = ['plain-valid', 'plain-bad'];
  const output = [
    answered('plain-valid', '{"answer": 7}'),
    answered('plain-bad', '{"answer": "x"}'),
  ];
  for (const provider of ['openai', 'anthropic'] as const) {
    const input = await attempt(plainIds, output, [], {
      provider,
      outputSchema: artifactNames.outputSchema,
    });
    await store.writeJson(input.runId, artifactNames.outputSchema, SCHEMA);
    const lines = await results(input, (await classifyAttempt(store, input)).results);
    assert.deepEqual(
      lines.map((l) => [l.status, l.output]),
      [
        ['succeeded', { answer: 7 }],
        ['invalid_output', undefined],
      ],
      provider,
    );
  }
  // An Anthropic part's lines are native: an OpenAI-looking format in them is not read.
  const input = await attempt(
    structuredIds,
    structuredOutput,
    [],
    { provider: 'anthropic' },
    structuredRequest,
  );
  const result = await classifyAttempt(store, input);
  assert.equal(result.invalidOutputs, undefined);
  assert.equal(result.counts.succeeded, 4);
});
