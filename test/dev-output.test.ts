import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WriteStream } from 'node:tty';
import { devBanner } from '../src/dev/banner.js';
import { freePort } from '../src/dev/ports.js';
import type { OpenAIConfig } from '../src/openai-client.js';
import { paintFor } from '../src/terminal.js';
import { spawnCli } from './helpers/cli.js';

// What `nightshift dev` prints when its output goes to a file or a pipe (Docker, systemd, CI),
// captured through a pipe as they capture it.

const ESC = '\x1b';

/** `nightshift dev` on free ports, through pipes, until its banner says it is ready. */
async function startDev(env: Record<string, string> = {}) {
  const home = await mkdtemp(join(tmpdir(), 'nightshift-dev-output-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const dev = spawnCli(['dev', '--port', String(port), '--ui-port', String(uiPort)], {
    NIGHTSHIFT_HOME: home,
    ...env,
  });
  await dev.waitFor(/dev stack ready/);
  return { dev, home, port };
}

test('colours only on a terminal that takes them, and never with NO_COLOR', () => {
  // Node's own decision (getColorDepth), on a stand-in for a terminal.
  const { getColorDepth, hasColors } = WriteStream.prototype;
  const terminal = { isTTY: true, getColorDepth, hasColors };
  const term = { TERM: 'xterm-256color' };
  assert.equal(
    paintFor(terminal, term)('yellow', 'a\nb'),
    `${ESC}[33ma${ESC}[39m\n${ESC}[33mb${ESC}[39m`,
  );
  assert.equal(paintFor(terminal, { ...term, NO_COLOR: '1' })('yellow', 'a\nb'), 'a\nb');
  assert.equal(paintFor({ ...terminal, isTTY: false }, term)('bold', 'a'), 'a');
});

test('`dev` through a pipe: one banner item a line, every line ended, no colour', async () => {
  // FORCE_COLOR asks for colours: a pipe still gets none.
  const { dev, port } = await startDev({ FORCE_COLOR: '1' });
  const stopped = await dev.stop('SIGINT');
  assert.equal(stopped.code, 0, stopped.stderr);
  for (const [name, text] of [
    ['stdout', stopped.stdout],
    ['stderr', stopped.stderr],
  ] as const) {
    assert.ok(text.endsWith('\n'), `${name} ends mid-line:\n${text}`);
    assert.ok(!text.includes(ESC), `${name} has escape codes:\n${JSON.stringify(text)}`);
  }
  const lines = stopped.stdout.split('\n');
  const line = (start: string) => lines.find((l) => l.startsWith(start));
  assert.match(line('!! OPENAI_API_KEY is not set') ?? '', /using the Batch API EMULATOR\.$/);
  assert.match(
    line('Temporal     ') ?? '',
    new RegExp(`^Temporal {5}127\\.0\\.0\\.1:${port} \\(.*temporal\\.db\\)$`),
  );
  assert.match(
    line('Temporal UI  ') ?? '',
    /^Temporal UI {2}http:\/\/\S+ {2}\(find runs with: .*\)$/,
  );
  assert.match(line('Emulator     ') ?? '', /^Emulator {5}http:\/\/127\.0\.0\.1:\d+\/v1$/);
  assert.match(
    line('Worker       ') ?? '',
    /^Worker {7}task queue "nightshift", artifacts in \S+$/,
  );
  assert.equal(lines.at(-2), 'Nightshift dev stack ready. Ctrl-C stops everything.');
  assert.match(stopped.stderr, /^stopped\.$/m);
});

test('the banner names the endpoint the worker calls: OpenAI’s, or what OPENAI_BASE_URL says', () => {
  const stack = {
    address: '127.0.0.1:7233',
    uiUrl: 'http://127.0.0.1:8233',
    home: '/home/me/.nightshift',
    taskQueue: 'nightshift',
    emulatorUrl: null,
  };
  const batchLine = (openai: OpenAIConfig) =>
    devBanner({ ...stack, openai })
      .split('\n')
      .find((l) => l.startsWith('Batch API    '));
  assert.equal(
    batchLine({ apiKey: 'sk-test' }),
    'Batch API    https://api.openai.com/v1, the real OpenAI Batch API (OPENAI_API_KEY is set): ' +
      'batches are billed',
  );
  assert.match(
    batchLine({ apiKey: 'sk-test', baseURL: 'https://api.openai.com/v1' }) ?? '',
    /batches are billed$/,
  );
  for (const baseURL of ['http://localhost:4000/v1', 'https://gateway.example.com/openai/v1']) {
    const line = batchLine({ apiKey: 'sk-test', baseURL }) ?? '';
    assert.ok(line.startsWith(`Batch API    ${baseURL} (from OPENAI_BASE_URL: not OpenAI`), line);
    assert.doesNotMatch(line, /real OpenAI|api\.openai\.com/);
  }
});

test('`dev` with OPENAI_BASE_URL says the worker calls that endpoint, not the real Batch API', async () => {
  const { dev } = await startDev({
    OPENAI_API_KEY: 'sk-test-not-a-key',
    OPENAI_BASE_URL: 'http://127.0.0.1:4000/v1',
  });
  const { stdout, code } = await dev.stop('SIGINT');
  assert.equal(code, 0);
  assert.match(stdout, /^Batch API {4}http:\/\/127\.0\.0\.1:4000\/v1 \(from OPENAI_BASE_URL: /m);
  assert.doesNotMatch(stdout, /EMULATOR|real OpenAI/);
});
