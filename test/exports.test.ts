import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { artifactNames } from '../src/artifacts.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { writeTemplateRequests } from '../src/templates.js';
import type { ResultLine, RunSummary } from '../workflows/types.js';
import { runCli } from './helpers/cli.js';

// `results --format`: a finished run's results.jsonl (written into a local store as the workers
// leave it) exported, then read back by independent readers: csv-parse, and pyarrow for Parquet.

const RESULT_COLUMNS = [
  'custom_id',
  'status',
  'output_text',
  'error_code',
  'error_message',
  'attempts',
  'batch_id',
  'cached',
  'input_tokens',
  'output_tokens',
  'response',
];

/** Made by scripts/install-pyarrow.sh. */
const PYTHON = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../../.tools/pyarrow-venv/bin/python',
);

/** Why the Parquet tests are skipped, or false; in CI the reader must be there (.ci/run installs it). */
async function pyarrowSkip(): Promise<string | false> {
  const installed = await access(PYTHON).then(
    () => true,
    () => false,
  );
  if (installed || process.env.CI) return false;
  return 'no pyarrow to read Parquet back: run scripts/install-pyarrow.sh';
}

/** A Parquet file as pyarrow reads it: schema, row groups and rows (bytes as text). */
async function readParquet(path: string): Promise<{
  columns: string[];
  types: string[];
  row_groups: number;
  rows: Record<string, unknown>[];
}> {
  const script = `
import json, sys
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
t = f.read()
json.dump({"columns": t.schema.names, "types": [str(x) for x in t.schema.types],
           "row_groups": f.metadata.num_row_groups, "rows": t.to_pylist()}, sys.stdout)
`;
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', script, path], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

const chat = (text: string, input: number, output: number) => ({
  status_code: 200,
  request_id: 'req_1',
  body: {
    choices: [{ message: { role: 'assistant', content: text } }],
    usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
  },
});

/** A fresh NIGHTSHIFT_HOME for `fn`, removed after it. */
async function withHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'nightshift-exports-'));
  try {
    await fn(home);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** Writes a finished run into the local store under `home`, as the workers do. */
async function finishedRun(home: string, id: string, lines: ResultLine[]): Promise<void> {
  const store = new LocalArtifactStore(home);
  await store.writeAtomic(
    id,
    artifactNames.results,
    lines.map((l) => JSON.stringify(l)),
  );
  await store.writeJson(id, artifactNames.summary, {
    run_id: id,
    status: 'partial',
    results_path: artifactNames.results,
    counts: { total: lines.length },
  } as Partial<RunSummary>);
}

const exportRun = (home: string, id: string, format: string, out: string) =>
  runCli(['results', id, '--format', format, '--out', out], { NIGHTSHIFT_HOME: home });

// A records CSV with a column named like a result column, unicode, quotes, commas, line breaks
// and an empty field.
const RECORDS_CSV =
  'id,review,status\n' +
  'a1,"Great, ""really"" great",new\n' +
  'a2,"Line one\nline two",\n' +
  'a3,Ünïcödé ☃ 日本語,seen\n';

/** The results of the records run: one success per provider shape, a failure, an expiry. */
const RECORDS_RESULTS: ResultLine[] = [
  {
    custom_id: 'a1',
    status: 'succeeded',
    response: chat('positive, "very"', 12, 3),
    output_text: 'positive, "very"',
    error: null,
    attempts: 1,
    batch_id: 'batch_1',
  },
  {
    custom_id: 'a2',
    status: 'failed',
    response: null,
    error: { code: 'invalid_request', message: 'bad\nrequest' },
    attempts: 2,
    batch_id: 'batch_2',
  },
  {
    custom_id: 'a3',
    status: 'succeeded',
    response: {
      status_code: 200,
      request_id: 'msg_1',
      body: {
        content: [{ type: 'text', text: 'neutral ☃' }],
        usage: { input_tokens: 20, output_tokens: 4 },
      },
    },
    output_text: 'neutral ☃',
    error: null,
    attempts: 1,
    batch_id: 'batch_1',
  },
];

/** A records run as submit makes it (records kept by template mode), then finished. */
async function recordsRun(home: string, id: string): Promise<void> {
  const csv = join(home, 'reviews.csv');
  await writeFile(csv, RECORDS_CSV);
  await writeTemplateRequests(
    { kind: 'records', path: csv, template: 'Sentiment: {{review}}' },
    { model: 'gpt-4o-mini', idField: 'id' },
    join(home, 'input.jsonl'),
    { store: new LocalArtifactStore(home), runId: id },
  );
  await finishedRun(home, id, RECORDS_RESULTS);
}

const RECORDS_COLUMNS = ['id', 'review', 'status', 'custom_id', 'result_status'].concat(
  RESULT_COLUMNS.slice(2),
);

test('CSV of a records run: the records as they came, then the results; quotes, line breaks, unicode, nulls', async () => {
  await withHome(async (home) => {
    await recordsRun(home, 'run-records');
    const out = join(home, 'out.csv');
    const { code, stdout, stderr } = await exportRun(home, 'run-records', 'csv', out);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\(3 rows\)/);
    const rows: string[][] = parse(await readFile(out, 'utf8'));
    assert.deepEqual(rows[0], RECORDS_COLUMNS);
    assert.equal(rows.length, 4);
    const byName = rows.slice(1).map((r) => Object.fromEntries(r.map((v, i) => [rows[0]?.[i], v])));
    assert.deepEqual(
      byName.map((r) => [r.id, r.review, r.status]),
      [
        ['a1', 'Great, "really" great', 'new'],
        ['a2', 'Line one\nline two', ''],
        ['a3', 'Ünïcödé ☃ 日本語', 'seen'],
      ],
    );
    const [a1, a2, a3] = byName;
    assert.deepEqual(
      [a1?.custom_id, a1?.result_status, a1?.output_text, a1?.input_tokens, a1?.output_tokens],
      ['a1', 'succeeded', 'positive, "very"', '12', '3'],
    );
    assert.deepEqual(JSON.parse(a1?.response ?? ''), RECORDS_RESULTS[0]?.response);
    // A failure: no text, no tokens, no response (empty cells), the error in two columns.
    assert.deepEqual(
      [a2?.output_text, a2?.input_tokens, a2?.response, a2?.error_code, a2?.error_message],
      ['', '', '', 'invalid_request', 'bad\nrequest'],
    );
    assert.equal(a2?.attempts, '2');
    // Anthropic's usage shape.
    assert.deepEqual(
      [a3?.output_text, a3?.input_tokens, a3?.output_tokens],
      ['neutral ☃', '20', '4'],
    );
  });
});

test('Parquet of a records run, read back by pyarrow row for row', async (t) => {
  const skip = await pyarrowSkip();
  if (skip) return t.skip(skip);
  await withHome(async (home) => {
    await recordsRun(home, 'run-records');
    const out = join(home, 'out.parquet');
    const { code, stderr } = await exportRun(home, 'run-records', 'parquet', out);
    assert.equal(code, 0, stderr);
    const table = await readParquet(out);
    assert.deepEqual(table.columns, RECORDS_COLUMNS);
    assert.deepEqual(
      table.types,
      RECORDS_COLUMNS.map((c) =>
        ['attempts', 'input_tokens', 'output_tokens'].includes(c)
          ? 'int32'
          : c === 'cached'
            ? 'bool'
            : 'string',
      ),
    );
    assert.deepEqual(
      table.rows.map((r) => [r.id, r.review, r.status, r.custom_id, r.result_status]),
      [
        ['a1', 'Great, "really" great', 'new', 'a1', 'succeeded'],
        ['a2', 'Line one\nline two', '', 'a2', 'failed'],
        ['a3', 'Ünïcödé ☃ 日本語', 'seen', 'a3', 'succeeded'],
      ],
    );
    const [a1, a2, a3] = table.rows;
    assert.deepEqual(
      [a1?.output_text, a1?.attempts, a1?.batch_id, a1?.input_tokens, a1?.output_tokens],
      ['positive, "very"', 1, 'batch_1', 12, 3],
    );
    assert.deepEqual(JSON.parse(a1?.response as string), RECORDS_RESULTS[0]?.response);
    // Nulls stay nulls (CSV cannot tell them from empty text).
    assert.deepEqual(
      [a2?.output_text, a2?.input_tokens, a2?.output_tokens, a2?.response, a2?.error_message],
      [null, null, null, null, 'bad\nrequest'],
    );
    assert.deepEqual([a3?.output_text, a3?.input_tokens, a3?.error_code], ['neutral ☃', 20, null]);
  });
});

/** A run from a requests file: n lines, every tenth failed and never submitted, Gemini-shaped. */
function plainResults(n: number): ResultLine[] {
  return Array.from({ length: n }, (_, i) =>
    i % 10 === 9
      ? {
          custom_id: `r-${i}`,
          status: 'cancelled',
          response: null,
          error: { code: 'cancelled', message: 'cancelled before its batch' },
          attempts: 0,
          batch_id: null,
        }
      : {
          custom_id: `r-${i}`,
          status: 'succeeded',
          response: {
            status_code: 200,
            request_id: `g-${i}`,
            body: {
              candidates: [{ content: { parts: [{ text: `answer ${i}` }] } }],
              usageMetadata: {
                promptTokenCount: i,
                candidatesTokenCount: 2,
                thoughtsTokenCount: 1,
              },
            },
          },
          output_text: `answer ${i}`,
          error: null,
          attempts: 1,
          batch_id: 'batch_g',
        },
  );
}

test('a run from a requests file: the result columns alone, in every format; jsonl is results.jsonl', async (t) => {
  await withHome(async (home) => {
    const lines = plainResults(25_000);
    await finishedRun(home, 'run-plain', lines);

    const jsonl = join(home, 'out.jsonl');
    assert.equal((await exportRun(home, 'run-plain', 'jsonl', jsonl)).code, 0);
    assert.equal(
      await readFile(jsonl, 'utf8'),
      await readFile(join(home, 'runs', 'run-plain', 'results.jsonl'), 'utf8'),
    );

    const csv = join(home, 'out.csv');
    assert.equal((await exportRun(home, 'run-plain', 'csv', csv)).code, 0);
    const rows: string[][] = parse(await readFile(csv, 'utf8'));
    assert.deepEqual(rows[0], RESULT_COLUMNS);
    assert.equal(rows.length, 25_001);
    assert.deepEqual(rows[8]?.slice(0, 10), [
      'r-7',
      'succeeded',
      'answer 7',
      '',
      '',
      '1',
      'batch_g',
      'false',
      '7',
      '3',
    ]);
    assert.deepEqual(rows[10]?.slice(0, 10), [
      'r-9',
      'cancelled',
      '',
      'cancelled',
      'cancelled before its batch',
      '0',
      '',
      'false',
      '',
      '',
    ]);

    const skip = await pyarrowSkip();
    if (skip) return t.skip(`Parquet: ${skip}`);
    const parquet = join(home, 'out.parquet');
    assert.equal((await exportRun(home, 'run-plain', 'parquet', parquet)).code, 0);
    const table = await readParquet(parquet);
    assert.deepEqual(table.columns, RESULT_COLUMNS);
    assert.equal(table.rows.length, 25_000);
    // Written a row group at a time: memory holds one group, not the run.
    assert.equal(table.row_groups, 3);
    assert.deepEqual(
      table.rows.map((r) => r.custom_id),
      lines.map((l) => l.custom_id),
    );
    assert.deepEqual(
      [table.rows[9]?.batch_id, table.rows[9]?.output_text, table.rows[24_998]?.input_tokens],
      [null, null, 24_998],
    );
  });
});

/** A run's output schema: one property of each column type, and one named like a record column. */
const OUTPUT_SCHEMA = {
  type: 'object',
  properties: {
    sentiment: { type: 'string' },
    score: { type: 'integer' },
    confidence: { type: ['number', 'null'] },
    sarcastic: { type: 'boolean' },
    topics: { type: 'array', items: { type: 'string' } },
    status: { type: 'string' },
  },
};

test('a run with an output schema: its properties as typed columns after output_text', async (t) => {
  await withHome(async (home) => {
    await recordsRun(home, 'run-typed');
    const store = new LocalArtifactStore(home);
    await store.writeJson('run-typed', artifactNames.outputSchema, OUTPUT_SCHEMA);
    const output = {
      sentiment: 'positive',
      score: 2 ** 40,
      confidence: 0.75,
      sarcastic: false,
      topics: ['price', 'taste'],
      status: 'ok',
    };
    await finishedRun(home, 'run-typed', [
      { ...(RECORDS_RESULTS[0] as ResultLine), output, cached: true, cached_run_id: 'run-0' },
      ...RECORDS_RESULTS.slice(1),
    ]);
    const flattened = ['sentiment', 'score', 'confidence', 'sarcastic', 'topics', 'output_status'];
    const columns = [...RECORDS_COLUMNS.slice(0, 6), ...flattened, ...RECORDS_COLUMNS.slice(6)];

    const csv = join(home, 'out.csv');
    assert.equal((await exportRun(home, 'run-typed', 'csv', csv)).code, 0);
    const rows: string[][] = parse(await readFile(csv, 'utf8'));
    assert.deepEqual(rows[0], columns);
    const a1 = Object.fromEntries((rows[1] ?? []).map((v, i) => [columns[i], v]));
    assert.deepEqual(
      flattened.map((c) => a1[c]),
      ['positive', String(2 ** 40), '0.75', 'false', '["price","taste"]', 'ok'],
    );
    assert.equal(a1.cached, 'true');
    assert.deepEqual(
      flattened.map((c) => rows[2]?.[columns.indexOf(c)]),
      ['', '', '', '', '', ''],
      'a failure has no output',
    );

    const skip = await pyarrowSkip();
    if (skip) return t.skip(`Parquet: ${skip}`);
    const parquet = join(home, 'out.parquet');
    assert.equal((await exportRun(home, 'run-typed', 'parquet', parquet)).code, 0);
    const table = await readParquet(parquet);
    assert.deepEqual(table.columns, columns);
    assert.deepEqual(
      flattened.map((c) => table.types[columns.indexOf(c)]),
      ['string', 'int64', 'double', 'bool', 'string', 'string'],
    );
    const [p1, p2] = table.rows;
    assert.deepEqual(
      flattened.map((c) => p1?.[c]),
      ['positive', 2 ** 40, 0.75, false, '["price","taste"]', 'ok'],
    );
    assert.deepEqual(
      flattened.map((c) => p2?.[c]),
      [null, null, null, null, null, null],
    );
    assert.deepEqual([p1?.cached, p2?.cached], [true, false]);
  });
});

test('a run that has not finished has nothing to export', async () => {
  await withHome(async (home) => {
    const out = join(home, 'out.csv');
    const { code, stderr } = await exportRun(home, 'run-unfinished', 'csv', out);
    assert.equal(code, 1);
    assert.match(stderr, /run run-unfinished has no results yet/);
    await assert.rejects(access(out));
  });
});
