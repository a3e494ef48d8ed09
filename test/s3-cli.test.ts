import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { artifactNames } from '../src/artifacts.js';
import type { ResultLine } from '../src/client.js';
import { type CliResult, runCli, spawnCli } from './helpers/cli.js';
import { runsIn } from './helpers/names.js';
import { chatLines, idsOf } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';
import { S3Server, s3Skip } from './helpers/s3.js';

// The CLI on the S3 store: a client whose disk no worker reads. Inputs go to the store (or are
// there already), results come from it, and store settings that do not work stop a command
// before anything is submitted.

const skip = await s3Skip();
const BUCKET = 'cli';
const FAST = ['--poll-interval', '0.1'];

if (skip) {
  test('the CLI on an S3 store', { skip }, () => {});
} else {
  let server: S3Server | null = null;
  const rig = useRig('s3-cli', {
    store: async () => {
      server = await S3Server.start();
      return server.shared(BUCKET);
    },
  });
  after(() => server?.stop());

  /** The client's own folder: nothing in it is visible to the worker. */
  let client = '';
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    client ||= await mkdtemp(join(tmpdir(), 'nightshift-client-'));
    return runCli(args, { ...rig.cliEnv(), NIGHTSHIFT_HOME: client, ...env });
  };
  const input = async (name: string, lines: string[]) => {
    client ||= await mkdtemp(join(tmpdir(), 'nightshift-client-'));
    const path = join(client, name);
    await writeFile(path, `${lines.join('\n')}\n`);
    return path;
  };
  const readResults = async (dir: string) =>
    (await readFile(join(dir, 'results.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as ResultLine);
  const putObject = (key: string, body: string) =>
    (server as S3Server)
      .client()
      .send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  const nothingStarted = (id: string) =>
    assert.rejects(rig.client.workflow.getHandle(id).describe(), { name: 'WorkflowNotFoundError' });
  /** One line, naming the setting, exit 2. */
  const refused = (result: CliResult, setting: RegExp) => {
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, setting);
  };

  test('submit --wait --out: the input goes to the store, the results come from it', async () => {
    const lines = chatLines(30);
    const path = await input('wait.jsonl', lines);
    const out = join(client, 'out');
    const done = await cli(['submit', path, '--id', 's3-wait', '--wait', '--out', out, ...FAST]);
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(
      (await readResults(out)).map((r) => r.custom_id),
      idsOf(lines),
    );
    const stored = await rig.store.inputVersion(
      `s3://${BUCKET}/nightshift/runs/s3-wait/input.jsonl`,
    );
    assert.ok(stored, 'the input is an object of the store');
    const status = await cli(['status', 's3-wait']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /completed/);
  });

  test('the result cache lives in the bucket: another client is answered from it', async () => {
    // s3-wait's requests, under other ids, from a client with a home of its own.
    const lines = chatLines(30, { prefix: 'again' });
    const path = await input('again.jsonl', lines);
    const elsewhere = await mkdtemp(join(tmpdir(), 'nightshift-client-'));
    const out = join(elsewhere, 'out');
    const done = await cli(['submit', path, '--id', 's3-cached', '--out', out, ...FAST], {
      NIGHTSHIFT_HOME: elsewhere,
    });
    assert.equal(done.code, 0, done.stderr);
    // The run's prepare, on a worker, looked the requests up in the bucket.
    assert.match(done.stdout, /cache {6}30 answered by earlier runs, not sent/);
    const results = await readResults(out);
    assert.deepEqual(
      results.map((r) => [r.custom_id, r.cached, r.cached_run_id]),
      idsOf(lines).map((id) => [id, true, 's3-wait']),
    );
    assert.deepEqual(await readdir(elsewhere), ['out'], 'nothing of the cache on the client');
  });

  test('a retried submit with the same id uploads nothing and starts nothing', async () => {
    const path = await input('retry.jsonl', chatLines(5));
    const first = await cli(['submit', path, '--id', 's3-retry', '--wait', ...FAST]);
    assert.equal(first.code, 0, first.stderr);
    const before = await rig.store.size('s3-retry', artifactNames.input);
    await writeFile(path, `${chatLines(7).join('\n')}\n`);
    const again = await cli(['submit', path, '--id', 's3-retry', ...FAST]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already exists/);
    assert.equal(await rig.store.size('s3-retry', artifactNames.input), before, 'not replaced');
  });

  test('submit s3://…: an object of the store, validated by streaming it', async () => {
    const lines = chatLines(12);
    await putObject('inputs/ready.jsonl', `${lines.join('\n')}\n`);
    const out = join(client, 'out-stored');
    const done = await cli([
      'submit',
      `s3://${BUCKET}/inputs/ready.jsonl`,
      '--id',
      's3-object',
      '--out',
      out,
      ...FAST,
    ]);
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(
      (await readResults(out)).map((r) => r.custom_id),
      idsOf(lines),
    );
    const results: ResultLine[] = [];
    for await (const line of rig.nightshift.run('s3-object').results()) results.push(line);
    assert.equal(results.length, lines.length, 'run.results() reads the store');
  });

  test('a bad or missing s3:// input exits 2 with nothing submitted', async () => {
    await putObject('inputs/bad.jsonl', `${chatLines(2)[0]}\nnot json\n`);
    const bad = await cli(['submit', `s3://${BUCKET}/inputs/bad.jsonl`, '--id', 's3-bad']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /s3:\/\/cli\/inputs\/bad\.jsonl:2: /);
    await nothingStarted('s3-bad');
    const missing = await cli(['submit', `s3://${BUCKET}/inputs/none.jsonl`, '--id', 's3-none']);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /s3:\/\/cli\/inputs\/none\.jsonl: no such object/);
    await nothingStarted('s3-none');
  });

  test('template mode writes its generated input to the store', async () => {
    const prompts = join(client || (await mkdtemp(join(tmpdir(), 'ns-'))), 'prompts.txt');
    await writeFile(prompts, 'one\ntwo\nthree\n');
    const done = await cli([
      'submit',
      '--prompts',
      prompts,
      '--model',
      'gpt-4o-mini',
      '--id',
      's3-template',
      '--wait',
      ...FAST,
    ]);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(
      (await rig.store.inputVersion(`s3://${BUCKET}/nightshift/runs/s3-template/input.jsonl`))
        ?.bytes,
      await rig.store.size('s3-template', artifactNames.input),
    );
    const summary = await rig.nightshift.run('s3-template').summary();
    assert.equal(summary?.counts.total, 3);
  });

  test('store settings that do not work: one line naming the setting, exit 2', async () => {
    const path = await input('settings.jsonl', chatLines(2));
    refused(
      await cli(['submit', path, '--id', 's3-no-bucket'], { NIGHTSHIFT_STORE: 's3://missing/x' }),
      /^NIGHTSHIFT_STORE: no bucket "missing"/,
    );
    refused(
      await cli(['submit', path, '--id', 's3-creds'], { AWS_SECRET_ACCESS_KEY: 'wrong' }),
      /^AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY: /,
    );
    refused(
      await cli(['submit', path, '--id', 's3-down'], { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' }),
      /^AWS_ENDPOINT_URL_S3: cannot reach http:\/\/127\.0\.0\.1:9/,
    );
    for (const id of ['s3-no-bucket', 's3-creds', 's3-down']) await nothingStarted(id);
    refused(
      await cli(['worker', '--emulator'], { AWS_SECRET_ACCESS_KEY: 'wrong' }),
      /^AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY: /,
    );
  });

  test('gc --older-than removes the artifacts of ended runs, never of an open one', async () => {
    const path = await input('open.jsonl', chatLines(3));
    // The run stays open through the gc: its batch's result files never appear (a busy machine
    // can see a fast batch end at the first poll, and its run close).
    rig.emulator.addFault({ kind: 'late_file_ids', reads: 1_000_000, times: 1 });
    const { run } = await rig.nightshift.submit(path, {
      id: 's3-open',
      pollIntervalSeconds: 3600,
      maxPollIntervalSeconds: 3600,
      // Sent, not answered from the cache (s3-wait asked the same): it must wait for its batch.
      cache: false,
    });
    const before = await runsIn(rig.store);
    assert.ok(before.includes('s3-wait') && before.includes('s3-open'), before.join());
    const gc = await cli(['gc', '--older-than', '0m']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stderr, /kept s3-open: open/);
    assert.deepEqual(await runsIn(rig.store), ['s3-open']);
    assert.equal(await rig.nightshift.run('s3-wait').summary(), null);
    const young = await cli(['gc', '--older-than', '30d']);
    assert.equal(young.code, 0, young.stderr);
    assert.deepEqual(await runsIn(rig.store), ['s3-open'], 'nothing ended that long ago');
    await run.cancel();
  });

  test('worker --gc-older-than collects when it starts (and every hour after)', async () => {
    const path = await input('ended.jsonl', chatLines(3));
    const { run } = await rig.nightshift.submit(path, { id: 's3-ended', pollIntervalSeconds: 0.1 });
    await run.wait();
    assert.ok((await runsIn(rig.store)).includes('s3-ended'));
    // A queue of its own: this worker is here for its gc, not to take the rig's activities.
    const worker = spawnCli(['worker', '--emulator', '--gc-older-than', '0m'], {
      ...rig.cliEnv(),
      NIGHTSHIFT_HOME: await mkdtemp(join(tmpdir(), 'nightshift-gc-worker-')),
      NIGHTSHIFT_TASK_QUEUE: 'gc-only',
    });
    try {
      await worker.waitFor(/gc: \d+ runs removed/, 60_000);
    } finally {
      worker.child.kill('SIGKILL');
    }
    assert.ok(!(await runsIn(rig.store)).includes('s3-ended'));
  });
}
