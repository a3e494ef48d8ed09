import assert from 'node:assert/strict';
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { LineTranslator } from '../src/providers/translation.js';
import {
  checkRequestLine,
  formatValidationError,
  RequestsValidator,
  summarizeValidation,
  validateRequestsFile,
} from '../src/requests.js';

const dir = await mkdtemp(join(tmpdir(), 'nightshift-requests-'));
let files = 0;

async function fileWith(content: string | Buffer): Promise<string> {
  const path = join(dir, `in-${++files}.jsonl`);
  await writeFile(path, content);
  return path;
}

const request = (id: string, model = 'gpt-4o-mini', url = '/v1/chat/completions') =>
  JSON.stringify({ custom_id: id, method: 'POST', url, body: { model, messages: [] } });

function messageOf(text: string): string {
  const result = checkRequestLine(text);
  assert.equal(result.ok, false, text);
  return result.ok ? '' : result.message;
}

test('a valid line gives its id, url, model and body', () => {
  assert.deepEqual(checkRequestLine(request('r-1')), {
    ok: true,
    request: {
      custom_id: 'r-1',
      url: '/v1/chat/completions',
      model: 'gpt-4o-mini',
      body: { model: 'gpt-4o-mini', messages: [] },
    },
  });
  const moderation =
    '{"custom_id":"m","method":"POST","url":"/v1/moderations","body":{"input":"x"}}';
  assert.deepEqual(checkRequestLine(moderation), {
    ok: true,
    request: { custom_id: 'm', url: '/v1/moderations', model: null, body: { input: 'x' } },
  });
});

test('each problem of a line has a precise message', () => {
  const line = (fields: Record<string, unknown>) =>
    JSON.stringify({
      custom_id: 'a',
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'm' },
      ...fields,
    });
  assert.equal(messageOf('   '), 'blank line (every line must be a request)');
  assert.match(messageOf('{"custom_id":'), /^invalid JSON: /);
  assert.equal(messageOf('[1]'), 'expected a JSON object, got an array');
  assert.equal(messageOf('"x"'), 'expected a JSON object, got a string');
  assert.equal(messageOf(line({ custom_id: undefined })), 'missing "custom_id"');
  assert.equal(messageOf(line({ custom_id: 7 })), '"custom_id" must be a string, got a number');
  assert.equal(messageOf(line({ custom_id: '' })), '"custom_id" is empty');
  assert.equal(messageOf(line({ method: 'GET' })), '"method" must be "POST", got "GET"');
  assert.equal(messageOf(line({ method: undefined })), '"method" must be "POST", got nothing');
  assert.match(
    messageOf(line({ url: '/v1/images' })),
    /^"url" must be one of .*; got "\/v1\/images"$/,
  );
  assert.equal(messageOf(line({ body: 'hi' })), '"body" must be a JSON object, got a string');
  assert.equal(messageOf(line({ body: null })), '"body" must be a JSON object, got null');
  assert.equal(messageOf(line({ body: {} })), '"body.model" is required for /v1/embeddings');
  assert.equal(
    messageOf(line({ body: { model: 4 } })),
    '"body.model" must be a string, got a number',
  );
});

test('a file reports every bad line, with file:line messages', async () => {
  const path = await fileWith(
    [
      request('a'),
      '{oops',
      request('a'),
      request('b', 'gpt-4o'),
      request('c', 'gpt-4o-mini', '/v1/responses'),
      request('d'),
    ].join('\n'),
  );
  const report = await validateRequestsFile(path);
  assert.equal(report.ok, false);
  assert.equal(report.total, 6);
  assert.equal(report.endpoint, '/v1/chat/completions');
  assert.equal(report.model, 'gpt-4o-mini');
  assert.deepEqual(
    report.errors.map((e) => e.line),
    [2, 3, 4, 5],
  );
  assert.equal(report.errors[1]?.message, 'duplicate custom_id "a"');
  assert.equal(
    report.errors[2]?.message,
    '"body.model" is "gpt-4o" but line 1 uses "gpt-4o-mini" (a batch takes one model)',
  );
  assert.equal(
    report.errors[3]?.message,
    '"url" is "/v1/responses" but line 1 uses "/v1/chat/completions"',
  );
  assert.equal(formatValidationError('in.jsonl', { line: 2, message: 'x' }), 'in.jsonl:2: x');
  assert.match(
    summarizeValidation('in.jsonl', report),
    /^in\.jsonl:2: invalid JSON: .* \(\+3 more\)$/,
  );
});

test("a given endpoint is the run's, even for line 1", async () => {
  const path = await fileWith(`${request('a')}\n`);
  const report = await validateRequestsFile(path, { endpoint: '/v1/embeddings' });
  assert.deepEqual(report.errors, [
    {
      line: 1,
      message: `"url" is "/v1/chat/completions" but the run's endpoint is "/v1/embeddings"`,
    },
  ]);
});

test('a valid file reports its totals; a final newline and CRLF are fine', async () => {
  const content = `${request('a')}\r\n${request('b')}\r\n`;
  const path = await fileWith(content);
  const report = await validateRequestsFile(path);
  assert.deepEqual(report, {
    ok: true,
    errors: [],
    errorCount: 0,
    total: 2,
    endpoint: '/v1/chat/completions',
    model: 'gpt-4o-mini',
    bytes: Buffer.byteLength(content),
    // Which version of the file was read: prepare trusts the report only for that one.
    mtimeMs: (await stat(path)).mtimeMs,
  });
});

test('an empty file has no requests; blank lines are errors', async () => {
  const empty = await validateRequestsFile(await fileWith(''));
  assert.deepEqual(empty.errors, [{ line: 0, message: 'no requests' }]);
  assert.equal(summarizeValidation('e.jsonl', empty), 'e.jsonl: no requests');
  const blank = await validateRequestsFile(await fileWith(`${request('a')}\n\n`));
  assert.deepEqual(blank.errors, [
    { line: 2, message: 'blank line (every line must be a request)' },
  ]);
});

test('errors are kept up to maxErrors but all are counted', async () => {
  const report = await validateRequestsFile(await fileWith('x\n'.repeat(30)), { maxErrors: 5 });
  assert.equal(report.errors.length, 5);
  assert.equal(report.errorCount, 30);
});

test('over-long lines and invalid UTF-8 are line errors', async () => {
  const path = await fileWith(
    Buffer.concat([
      Buffer.from(`${request('a')}\n${request('b'.repeat(500))}\n`),
      Buffer.from([0xc3, 0x0a]),
    ]),
  );
  const report = await validateRequestsFile(path, { maxLineBytes: 200 });
  assert.deepEqual(report.errors, [
    { line: 2, message: 'line is longer than 200 bytes' },
    { line: 3, message: 'invalid UTF-8' },
  ]);
});

const validRequests = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 30 })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.string({ maxLength: 40 }), { minLength: ids.length, maxLength: ids.length }),
    ),
  )
  .map(([ids, contents]) =>
    ids.map((id, i) =>
      JSON.stringify({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-4.1-nano', messages: [{ role: 'user', content: contents[i] }] },
      }),
    ),
  );

/** Ways to break one line so that it, and only it, is invalid. */
const corruptions: ((line: string, earlier: string | undefined) => string)[] = [
  (line) => line.slice(0, -1),
  (line) => line.replace('"POST"', '"GET"'),
  (line) => line.replace('/v1/chat/completions', '/v1/nope'),
  (line) => JSON.stringify({ ...JSON.parse(line), custom_id: undefined }),
  (line) => JSON.stringify({ ...JSON.parse(line), body: [] }),
  (line, earlier) =>
    JSON.stringify({
      ...JSON.parse(line),
      custom_id: earlier ? JSON.parse(earlier).custom_id : '',
    }),
];

test('property: generated valid files validate; one corruption is reported on its line', async () => {
  await fc.assert(
    fc.asyncProperty(
      validRequests,
      fc.nat(),
      fc.nat({ max: corruptions.length - 1 }),
      fc.boolean(),
      async (lines, at, how, crlf) => {
        const eol = crlf ? '\r\n' : '\n';
        const ok = await validateRequestsFile(await fileWith(lines.join(eol) + eol));
        assert.equal(ok.ok, true);
        assert.equal(ok.total, lines.length);

        const index = at % lines.length;
        const broken = [...lines];
        broken[index] = corruptions[how]?.(lines[index] as string, lines[index - 1]) ?? '';
        const report = await validateRequestsFile(await fileWith(broken.join(eol)));
        assert.equal(report.errorCount, 1, JSON.stringify(report.errors));
        assert.equal(report.errors[0]?.line, index + 1);
      },
    ),
    { numRuns: 150 },
  );
});

test('with a provider’s translator, OpenAI lines and native lines are both checked and translated', async () => {
  const translate: LineTranslator = (line) => {
    if ('params' in line) {
      return { ok: true, customId: String(line.custom_id), model: 'm', line };
    }
    const body = line.body as { model: string; logprobs?: boolean };
    if (body.logprobs) return { ok: false, message: 'body.logprobs: not supported by Toy' };
    return {
      ok: true,
      customId: String(line.custom_id),
      model: body.model,
      line: { custom_id: line.custom_id, params: { model: body.model } },
    };
  };
  const validator = new RequestsValidator({ translate });
  const lines = [
    request('a', 'm'),
    JSON.stringify({ custom_id: 'b', params: { model: 'm' } }),
    JSON.stringify({
      custom_id: 'c',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'm', logprobs: true },
    }),
    JSON.stringify({ custom_id: 'd', method: 'GET', url: '/v1/chat/completions', body: {} }),
    '{"custom_id": ',
  ];
  const checked = lines.map((text, i) =>
    validator.check({ text, lineNo: i + 1, bytes: text.length + 1 }),
  );
  assert.deepEqual(checked[0]?.native, { custom_id: 'a', params: { model: 'm' } });
  assert.equal(checked[0]?.url, '/v1/chat/completions');
  assert.deepEqual(checked[1]?.native, { custom_id: 'b', params: { model: 'm' } });
  const report = validator.report(100);
  assert.deepEqual(
    report.errors.map((e) => [e.line, e.message.split(':')[0]]),
    [
      [3, 'body.logprobs'],
      [4, '"method" must be "POST", got "GET"'],
      [5, 'invalid JSON'],
    ],
  );
});
