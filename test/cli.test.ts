import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { RunProgress, RunSummary } from '../workflows/types.js';
import { batchesOf } from './helpers/assertions.js';
import { CLI, eventually, runCli } from './helpers/cli.js';
import { chatLines } from './helpers/requests.js';
import { Rig } from './helpers/rig.js';
import { startDevServer } from './helpers/temporal.js';

// The built CLI as a subprocess, against a real Temporal dev server and a worker in this process
// whose activities reach the emulator over HTTP.

let env: TestWorkflowEnvironment;
let rig: Rig;
let slow: Rig;
let tmp: string;

before(async () => {
  env = await startDevServer();
  [rig, slow] = await Promise.all([
    Rig.start(env, 'cli'),
    // Batches that stay in progress for seconds, to cancel one midway.
    Rig.start(env, 'cli-slow', {
      emulator: {
        timing: { validatingMs: 20, perRequestMs: 100, finalizingMs: 20, cancellingMs: 20 },
      },
    }),
  ]);
  tmp = await mkdtemp(join(tmpdir(), 'nightshift-cli-'));
});
after(async () => {
  await Promise.all([rig?.close(), slow?.close()]);
  await env?.teardown();
});

function cli(args: string[], on: Rig = rig) {
  return runCli(args, on.cliEnv());
}

async function file(name: string, lines: string[]): Promise<string> {
  const path = join(tmp, name);
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

async function readResults(dir: string) {
  const text = await readFile(join(dir, 'results.jsonl'), 'utf8');
  const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as RunSummary;
  return {
    lines: text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l)),
    summary,
  };
}

test('--help exits 0 and lists every command; each command has examples', async () => {
  const top = await runCli(['--help']);
  assert.equal(top.code, 0);
  for (const name of ['dev', 'demo', 'worker', 'submit', 'status', 'cancel', 'results', 'list']) {
    assert.match(top.stdout, new RegExp(`\\n  ${name} `), name);
  }
  const submit = await runCli(['submit', '--help']);
  assert.equal(submit.code, 0);
  assert.match(submit.stdout, /Examples:[\s\S]*--records/);
  assert.equal((await runCli(['submit', '--no-such-flag'])).code, 2);
});

test('the built CLI runs as the executable npx and the npm bin link start', async () => {
  // `npx nightshift` in a fresh clone executes dist/src/cli.js itself, through its shebang.
  const { stdout } = await promisify(execFile)(CLI, ['--version']);
  assert.match(stdout, /^\d+\.\d+\.\d+/);
});

test('submit --wait --out writes exact results; status, list, results and a duplicate id', async () => {
  const lines = chatLines(30);
  const input = await file('ok.jsonl', lines);
  const out = join(tmp, 'out-ok');
  const args = ['submit', input, '--id', 'cli-ok', '--poll-interval', '0.1'];
  const run = await cli([...args, '--max-requests-per-batch', '20', '--wait', '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.split('\n')[0], 'cli-ok');
  assert.match(run.stdout, /30 succeeded/);
  assert.match(run.stdout, /saved \$/);

  const { lines: results, summary } = await readResults(out);
  assert.deepEqual(
    results.map((r) => [r.custom_id, r.status, r.response.status_code]),
    lines.map((l) => [JSON.parse(l).custom_id, 'succeeded', 200]),
  );
  assert.equal(summary.status, 'completed');
  assert.deepEqual(summary.counts, {
    total: 30,
    succeeded: 30,
    invalid_output: 0,
    failed: 0,
    expired: 0,
    cancelled: 0,
  });
  assert.equal(summary.batches.length, 2);

  const status = await cli(['status', 'cli-ok', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const progress = JSON.parse(status.stdout) as RunProgress;
  assert.equal(progress.runId, 'cli-ok');
  assert.equal(progress.status, 'completed');
  assert.equal(progress.total, 30);
  assert.deepEqual(
    progress.parts.map((p) => [p.part, p.phase, p.requests, p.attempt, typeof p.batchId]),
    [
      [1, 'done', 20, 1, 'string'],
      [2, 'done', 10, 1, 'string'],
    ],
  );
  const table = await cli(['status', 'cli-ok']);
  assert.match(table.stdout, /Run cli-ok: completed/);
  assert.match(table.stdout, /batch_/);

  const listed = await cli(['list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const runs = listed.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(
    runs.some((r) => r.id === 'cli-ok' && r.status === 'completed'),
    listed.stdout,
  );

  const again = await cli(['results', 'cli-ok', '--out', join(tmp, 'again')]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual((await readResults(join(tmp, 'again'))).lines, results);

  const duplicate = await cli([...args]);
  assert.equal(duplicate.code, 0, duplicate.stderr);
  assert.match(duplicate.stderr, /already exists/);
  assert.equal(batchesOf(rig.emulator.stats(), 'cli-ok').length, 2, 'no second run, no new batch');
});

test('template mode: records in CSV through a template, ids from a field', async () => {
  const csv = join(tmp, 'reviews.csv');
  await writeFile(csv, 'id,text\nr-a,"Great, really"\nr-b,Awful\nr-c,"multi\nline"\n');
  const out = join(tmp, 'out-template');
  const run = await cli([
    'submit',
    '--records',
    csv,
    '--template',
    'Sentiment of: {{text}}',
    '--id-field',
    'id',
    '--max-tokens',
    '2',
    '--system',
    'Answer in one word.',
    '--poll-interval',
    '0.1',
    '--out',
    out,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const { lines } = await readResults(out);
  assert.deepEqual(
    lines.map((l) => [l.custom_id, l.status]),
    [
      ['r-a', 'succeeded'],
      ['r-b', 'succeeded'],
      ['r-c', 'succeeded'],
    ],
  );
});

test('bad input exits 2 with file:line: messages and makes no call at all', async () => {
  const callsBefore = JSON.stringify(rig.emulator.stats().calls);
  const good = chatLines(3);
  const bad = await file('bad.jsonl', [
    good[0] as string,
    '{not json',
    good[1] as string,
    JSON.stringify({ method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini' } }),
    ...Array.from({ length: 25 }, () => '[]'),
  ]);
  const run = await cli(['submit', bad, '--id', 'cli-bad', '--wait']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, new RegExp(`${bad}:2: invalid JSON`));
  assert.match(run.stderr, new RegExp(`${bad}:4: missing "custom_id"`));
  assert.match(run.stderr, new RegExp(`${bad}:5: expected a JSON object`));
  assert.match(run.stderr, /\+7 more/, 'at most 20 problems, then a count');
  assert.equal(run.stdout, '', 'no run id: nothing submitted');

  const records = await file('records.jsonl', ['{"text":"a"}', '{"body":"b"}']);
  const template = await cli(['submit', '--records', records, '--template', 'Say {{text}}']);
  assert.equal(template.code, 2);
  assert.match(template.stderr, new RegExp(`${records}:2: no field "text"`));

  const costly = await file('costly.jsonl', chatLines(10));
  // Not from the cache, which earlier tests filled with these very requests: all sent.
  const budget = await cli(['submit', costly, '--max-cost', '0.000001', '--no-cache']);
  assert.equal(budget.code, 2);
  assert.match(budget.stderr, /over --max-cost/);
  const unknown = await file('unknown.jsonl', chatLines(2, { model: 'my-finetune' }));
  const noPrice = await cli(['submit', unknown, '--max-cost', '1']);
  assert.equal(noPrice.code, 2);
  assert.match(noPrice.stderr, /no price known for model my-finetune/);

  const schema = await file('schema.json', ['{"type": "no-such-type"}']);
  const badSchema = await cli(['submit', costly, '--output-schema', schema]);
  assert.equal(badSchema.code, 2);
  assert.match(badSchema.stderr, new RegExp(`--output-schema: ${schema}: .*type`));

  assert.equal(JSON.stringify(rig.emulator.stats().calls), callsBefore, 'no provider call');
  const listed = await cli(['list', '--json']);
  assert.doesNotMatch(listed.stdout, /cli-bad/);
});

test('cancel from the CLI ends the run cancelled, with partial results written', async () => {
  const input = await file('slow.jsonl', chatLines(40));
  const started = await cli(
    ['submit', input, '--id', 'cli-cancel', '--poll-interval', '0.1'],
    slow,
  );
  assert.equal(started.code, 0, started.stderr);
  assert.equal(started.stdout.trim(), 'cli-cancel');
  await eventually('some requests done', () =>
    batchesOf(slow.emulator.stats(), 'cli-cancel').some((b) => b.request_counts.completed > 0)
      ? true
      : undefined,
  );

  const cancel = await cli(['cancel', 'cli-cancel', '--wait'], slow);
  assert.equal(cancel.code, 1, 'a cancelled run did not succeed in full');
  assert.match(cancel.stdout, /cli-cancel: cancelled/);

  const out = join(tmp, 'out-cancel');
  assert.equal((await cli(['results', 'cli-cancel', '--out', out], slow)).code, 0);
  const { lines, summary } = await readResults(out);
  assert.equal(summary.status, 'cancelled');
  assert.equal(lines.length, 40);
  const succeeded = lines.filter((l) => l.status === 'succeeded').length;
  assert.ok(succeeded > 0 && succeeded < 40, `partial: ${succeeded} succeeded`);
  assert.equal(succeeded + lines.filter((l) => l.status === 'cancelled').length, 40);
  assert.equal(summary.counts.succeeded, succeeded);
});

test('results of an unknown or unfinished run exit 1', async () => {
  const run = await cli(['results', 'no-such-run', '--out', join(tmp, 'none')]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /no results yet/);
});
