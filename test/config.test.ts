import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, settingsTable } from '../src/config.js';
import { runCli } from './helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('defaults: local Temporal, the default queue, ~/.nightshift, no provider, no encryption', () => {
  const config = loadConfig({ PATH: '/bin' });
  assert.deepEqual(config.temporal, { address: 'localhost:7233', namespace: 'default' });
  assert.equal(config.taskQueue, 'nightshift');
  assert.match(config.home, /\.nightshift$/);
  assert.deepEqual(config.providers, {
    openai: null,
    azure: null,
    anthropic: null,
    gemini: null,
    'openai-compatible': null,
  });
  assert.equal(config.debug, false);
  assert.equal(config.emulatorPerRequestMs, null);
  assert.equal(config.stuckAfterSeconds, null);
  assert.deepEqual(config.tools, {
    dir: null,
    cliPath: null,
    testServerPath: null,
    python: 'python3',
    searchPath: '/bin',
  });
});

test('every setting is read from its variable; blank ones count as unset', () => {
  const config = loadConfig({
    NIGHTSHIFT_HOME: '/srv/ns',
    NIGHTSHIFT_TASK_QUEUE: 'batch',
    NIGHTSHIFT_DEBUG: '1',
    TEMPORAL_ADDRESS: 'temporal:7233',
    TEMPORAL_NAMESPACE: 'prod',
    TEMPORAL_API_KEY: 'tk',
    NIGHTSHIFT_ENCRYPTION_KEYS: 'k1=abc',
    OPENAI_API_KEY: 'sk-x',
    OPENAI_BASE_URL: 'http://gateway/v1',
    OPENAI_PROJECT_ID: ' ',
    NIGHTSHIFT_EMULATOR_PER_REQUEST_MS: '2.5',
    NIGHTSHIFT_STUCK_AFTER: 'finalizing=2h, validating = 90s',
  });
  assert.equal(config.home, '/srv/ns');
  assert.equal(config.taskQueue, 'batch');
  assert.equal(config.debug, true);
  assert.deepEqual(config.temporal, {
    address: 'temporal:7233',
    namespace: 'prod',
    apiKey: 'tk',
    encryptionKeys: 'k1=abc',
  });
  assert.deepEqual(config.providers.openai, { apiKey: 'sk-x', baseURL: 'http://gateway/v1' });
  assert.equal(config.emulatorPerRequestMs, 2.5);
  assert.deepEqual(config.stuckAfterSeconds, { finalizing: 7200, validating: 90 });
});

test('a value that cannot be used is refused, naming the variable; the CLI exits 2', async () => {
  assert.throws(
    () => loadConfig({ NIGHTSHIFT_EMULATOR_PER_REQUEST_MS: 'fast' }),
    (err) =>
      err instanceof ConfigError && /NIGHTSHIFT_EMULATOR_PER_REQUEST_MS.*"fast"/.test(err.message),
  );
  for (const value of ['finalizing', 'in_progress=1h', 'finalizing=1w']) {
    assert.throws(
      () => loadConfig({ NIGHTSHIFT_STUCK_AFTER: value }),
      (err) =>
        err instanceof ConfigError && /^NIGHTSHIFT_STUCK_AFTER must be like/.test(err.message),
    );
  }
  const cli = await runCli(['list'], { NIGHTSHIFT_EMULATOR_PER_REQUEST_MS: '-1' });
  assert.equal(cli.code, 2);
  assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
  assert.match(cli.stderr, /NIGHTSHIFT_EMULATOR_PER_REQUEST_MS must be a number/);
});

test("the README's configuration table is the settings loadConfig reads", async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes(settingsTable()), `README.md should hold:\n${settingsTable()}`);
  const documented = new Set(settingsTable().match(/`[A-Z][A-Z0-9_]+`/g));
  const source = await readFile(join(ROOT, 'src/config.ts'), 'utf8');
  for (const [, name] of source.matchAll(/'([A-Z][A-Z0-9_]{3,})'/g)) {
    if (name === 'PATH') continue;
    assert.ok(documented.has(`\`${name}\``), `${name} is read but not in the table`);
  }
});

test('the environment is read in src/config.ts only', async () => {
  const readers: string[] = [];
  for (const dir of ['src', 'activities', 'workflows']) {
    for (const file of await readdir(join(ROOT, dir), { recursive: true })) {
      if (!file.endsWith('.ts') || file.startsWith('emulator/')) continue;
      const text = await readFile(join(ROOT, dir, file), 'utf8');
      if (text.includes('process.env')) readers.push(`${dir}/${file}`);
    }
  }
  assert.deepEqual(readers, ['src/config.ts']);
});
