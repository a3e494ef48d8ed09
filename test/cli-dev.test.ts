import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, freePorts } from '../src/dev/ports.js';
import type { EmulatorStats } from '../src/emulator/index.js';
import type { RunProgress } from '../workflows/types.js';
import { type CliProcess, eventually, runCli, spawnCli } from './helpers/cli.js';
import { chatLines } from './helpers/requests.js';

// `nightshift dev` and `nightshift emulator` as subprocesses, the way people run them.

test('a run in progress when `dev` is stopped finishes after `dev` starts again', async () => {
  // dev's own emulator, slowed down so that the batch is still in progress when the stack stops;
  // it keeps its batches under NIGHTSHIFT_HOME, as OpenAI keeps them across our restarts.
  const home = await mkdtemp(join(tmpdir(), 'nightshift-dev-'));
  const [port = 0, uiPort = 0] = await freePorts(2);
  const env = { NIGHTSHIFT_HOME: home, NIGHTSHIFT_EMULATOR_PER_REQUEST_MS: '60' };
  const client = { ...env, TEMPORAL_ADDRESS: `127.0.0.1:${port}` };
  const devArgs = ['dev', '--port', String(port), '--ui-port', String(uiPort)];
  const stats = async (dev: CliProcess): Promise<EmulatorStats> => {
    const url = /Emulator {5}(http:\/\/\S+)\/v1/.exec(dev.stdout)?.[1];
    assert.ok(url, `no emulator address in:\n${dev.stdout}`);
    return (await fetch(`${url}/_emulator/stats`)).json() as Promise<EmulatorStats>;
  };

  const first = spawnCli(devArgs, env);
  await first.waitFor(/dev stack ready/);
  assert.match(first.stdout, new RegExp(`Temporal UI  http://127.0.0.1:${uiPort}`));
  assert.match(first.stdout, /using the Batch API EMULATOR/);

  const input = join(home, 'requests.jsonl');
  await writeFile(input, `${chatLines(50).join('\n')}\n`);
  const submit = await runCli(
    ['submit', input, '--id', 'survivor', '--poll-interval', '0.1'],
    client,
  );
  assert.equal(submit.code, 0, submit.stderr);
  await eventually('the batch in progress', async () =>
    (await stats(first)).batches[0]?.status === 'in_progress' ? true : undefined,
  );

  const stopped = await first.stop('SIGINT');
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stderr, /stopped\./);
  const saved = JSON.parse(await readFile(join(home, 'emulator', 'state.json'), 'utf8'));
  assert.equal(saved.batches[0]?.status, 'in_progress', 'stopped midway, and saved so');

  const second = spawnCli(devArgs, env);
  try {
    await second.waitFor(/dev stack ready/);
    const watch = await runCli(
      ['status', 'survivor', '--watch', '--json', '--interval', '0.2'],
      client,
    );
    assert.equal(watch.code, 0, watch.stderr);
    const last = JSON.parse(watch.stdout.trim().split('\n').at(-1) as string) as RunProgress;
    assert.equal(last.status, 'completed');

    const out = join(home, 'out');
    assert.equal((await runCli(['results', 'survivor', '--out', out], client)).code, 0);
    const lines = (await readFile(join(out, 'results.jsonl'), 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 50);
    assert.ok(lines.every((l) => JSON.parse(l).status === 'succeeded'));
    const { batches, submissions } = await stats(second);
    assert.equal(batches.length, 1, 'the batch was not created again');
    assert.equal(batches[0]?.status, 'completed');
    assert.ok(Object.values(submissions).every((n) => n === 1));
  } finally {
    const stoppedAgain = await second.stop('SIGINT');
    assert.equal(stoppedAgain.code, 0, stoppedAgain.stderr);
  }
});

test('`nightshift emulator` serves the Batch API and says how to point an SDK at it', async () => {
  const port = await freePort();
  const emulator = spawnCli(['emulator', '--port', String(port)]);
  try {
    await emulator.waitFor(/Ctrl-C/);
    assert.match(
      emulator.stdout,
      new RegExp(`OPENAI_BASE_URL=http://127.0.0.1:${port}/v1 OPENAI_API_KEY=anything`),
    );
    const stats = await fetch(`http://127.0.0.1:${port}/_emulator/stats`);
    assert.equal(stats.status, 200);
    assert.deepEqual(((await stats.json()) as { batches: unknown[] }).batches, []);
    for (const setting of [
      'ANTHROPIC_BASE_URL',
      'GOOGLE_GEMINI_BASE_URL',
      'AZURE_OPENAI_ENDPOINT',
    ]) {
      assert.match(emulator.stdout, new RegExp(`${setting}=http://127.0.0.1:${port} `));
    }
  } finally {
    assert.equal((await emulator.stop('SIGINT')).code, 0);
  }
});

test('`nightshift emulator --provider anthropic` names only Anthropic’s settings', async () => {
  const port = await freePort();
  const emulator = spawnCli(['emulator', '--port', String(port), '--provider', 'anthropic']);
  try {
    await emulator.waitFor(/Ctrl-C/);
    assert.match(emulator.stdout, /anthropic: ANTHROPIC_BASE_URL=/);
    assert.doesNotMatch(emulator.stdout, /OPENAI_BASE_URL|GEMINI_API_KEY/);
  } finally {
    assert.equal((await emulator.stop('SIGINT')).code, 0);
  }
});

test('`nightshift worker` without OPENAI_API_KEY nor --emulator is a usage error', async () => {
  const run = await runCli(['worker']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /no provider has credentials \(OPENAI_API_KEY, AZURE_OPENAI_API_KEY/);
});
