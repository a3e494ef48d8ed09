import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { WriteStream } from 'node:tty';
import { ApplicationFailure } from '@temporalio/common';
import type { LogEntry } from '@temporalio/worker';
import { attemptFields } from '../src/activity-log.js';
import { devBanner } from '../src/dev/banner.js';
import { freePorts } from '../src/dev/ports.js';
import { WorkerLogger, type WorkerLoggerOptions } from '../src/dev/worker-logger.js';
import type { OpenAIConfig } from '../src/providers/openai/client.js';
import { paintFor } from '../src/terminal.js';
import { type CliResult, runCli, spawnCli } from './helpers/cli.js';
import { chatLines } from './helpers/requests.js';

// What `nightshift dev` prints when its output goes to a file or a pipe (Docker, systemd, CI),
// captured through a pipe as they capture it; and what its worker logs.

const ESC = '\x1b';

/** `nightshift dev` on free ports, through pipes, until its banner says it is ready. */
async function startDev(env: Record<string, string> = {}) {
  const home = await mkdtemp(join(tmpdir(), 'nightshift-dev-output-'));
  const [port = 0, uiPort = 0] = await freePorts(2);
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

describe('`dev` through a pipe, with a run whose provider calls fail and are retried', () => {
  const runId = 'dev-retries';
  let output: CliResult;
  let port: number;

  before(async () => {
    // FORCE_COLOR asks for colours: a pipe still gets none.
    const started = await startDev({ FORCE_COLOR: '1' });
    port = started.port;
    const emulator = /^Emulator {5}(http:\/\/\S+)\/v1$/m.exec(started.dev.stdout)?.[1];
    assert.ok(emulator, started.dev.stdout);
    // One more failure than the SDK's own two retries, so that the activity fails and retries.
    for (const fault of [
      { kind: 'http_429', endpoint: 'files.create', times: 3, retryAfterSeconds: 0.05 },
      { kind: 'http_503', endpoint: 'batches.retrieve', times: 3 },
      { kind: 'truncate', endpoint: 'files.content', times: 1 },
    ]) {
      const added = await fetch(`${emulator}/_emulator/faults`, {
        method: 'POST',
        body: JSON.stringify(fault),
      });
      assert.equal(added.status, 200, await added.text());
    }
    const input = join(started.home, 'requests.jsonl');
    await writeFile(input, `${chatLines(20).join('\n')}\n`);
    const submit = await runCli(
      ['submit', input, '--id', runId, '--wait', '--poll-interval', '0.2'],
      { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, NIGHTSHIFT_HOME: started.home },
    );
    assert.equal(submit.code, 0, submit.stderr);
    output = await started.dev.stop('SIGINT');
    assert.equal(output.code, 0, output.stderr);
  });

  test('every line ends with a newline, with no colour', () => {
    for (const [name, text] of [
      ['stdout', output.stdout],
      ['stderr', output.stderr],
    ] as const) {
      assert.ok(text.endsWith('\n'), `${name} ends mid-line:\n${text}`);
      assert.ok(!text.includes(ESC), `${name} has escape codes:\n${JSON.stringify(text)}`);
    }
    assert.match(output.stderr, /^stopped\.$/m);
  });

  test('the banner: one item a line', () => {
    const lines = output.stdout.split('\n');
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
  });

  test('each expected retry is one line: run, part, attempt, batch and reason; no dump', () => {
    const retries = output.stderr.split('\n').filter((l) => l.includes('[WARN] retrying'));
    const of = (activity: string) => retries.filter((l) => l.includes(`retrying ${activity} `));
    const where = `run ${runId} part 1`;
    assert.equal(of('upload').length, 1, output.stderr);
    assert.match(
      of('upload')[0] ?? '',
      new RegExp(`${where} attempt 1: ProviderUnavailable: .*429`),
    );
    assert.equal(of('pollBatch').length, 1, output.stderr);
    assert.match(
      of('pollBatch')[0] ?? '',
      new RegExp(`${where} batch batch_\\w+: ProviderUnavailable: .*503`),
    );
    assert.equal(of('download').length, 1, output.stderr);
    assert.match(
      of('download')[0] ?? '',
      new RegExp(`${where} attempt 1 batch batch_\\w+: connection lost: `),
    );
    assert.doesNotMatch(output.stderr, /taskToken|Activity failed|^\s+at /m);
  });
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
    devBanner({ ...stack, providers: { openai } })
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
  const { stdout, stderr, code, signal } = await dev.stop('SIGINT');
  assert.equal(code, 0, `ended by ${signal ?? `exit ${code}`}:\n${stderr}`);
  assert.match(stdout, /^Batch API {4}http:\/\/127\.0\.0\.1:4000\/v1 \(from OPENAI_BASE_URL: /m);
  assert.doesNotMatch(stdout, /EMULATOR|real OpenAI/);
});

describe('the worker log', () => {
  /** A logger whose entries are kept instead of printed. */
  function capture(options: WorkerLoggerOptions = {}) {
    const entries: LogEntry[] = [];
    return { entries, logger: new WorkerLogger('WARN', (e) => entries.push(e), options) };
  }
  const failed = (error: Error) => ({
    error,
    taskToken: 'CiQwMWEy…',
    activityType: 'download',
    activity_attempt: 3,
    run_id: 'r1',
    part: 2,
    attempt: 1,
    batch_id: 'batch_1',
  });

  test('an expected retry is one line; the task token and the error stay out', () => {
    for (const [error, reason] of [
      [
        ApplicationFailure.create({ type: 'ProviderUnavailable', message: 'retrieve: 503\nbusy' }),
        'ProviderUnavailable: retrieve: 503 busy',
      ],
      [
        ApplicationFailure.create({ type: 'ResultFilesNotReady', message: 'no output file yet' }),
        'ResultFilesNotReady: no output file yet',
      ],
      [
        new TypeError('terminated', {
          cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
        }),
        'connection lost: other side closed (UND_ERR_SOCKET)',
      ],
    ] as const) {
      const { entries, logger } = capture();
      logger.warn('Activity failed', failed(error));
      assert.deepEqual(
        entries.map((e) => [e.level, e.message, e.meta]),
        [
          [
            'WARN',
            `retrying download after try 3 — run r1 part 2 attempt 1 batch batch_1: ${reason}`,
            undefined,
          ],
        ],
      );
    }
  });

  test('JSON logs keep the retry’s fields beside its line, without the token', () => {
    const { entries, logger } = capture({ fields: true });
    logger.warn(
      'Activity failed',
      failed(ApplicationFailure.create({ type: 'TruncatedDownload', message: 'cut' })),
    );
    const meta = entries[0]?.meta ?? {};
    assert.equal(meta.run_id, 'r1');
    assert.equal(meta.batch_id, 'batch_1');
    assert.equal(meta.reason, 'TruncatedDownload: cut');
    assert.ok(!('taskToken' in meta) && !('error' in meta));
  });

  test('an unexpected failure, a final one, or any with NIGHTSHIFT_DEBUG=1 is logged in full', () => {
    const unexpected = new TypeError('Cannot read properties of undefined');
    const final = ApplicationFailure.nonRetryable('401 bad key', 'ProviderRejected');
    const retry = ApplicationFailure.create({ type: 'ProviderUnavailable', message: '503' });
    for (const [error, options] of [
      [unexpected, {}],
      [final, {}],
      [retry, { debug: true }],
    ] as const) {
      const { entries, logger } = capture(options);
      logger.warn('Activity failed', failed(error));
      assert.equal(entries[0]?.message, 'Activity failed');
      // The stack goes with the error, for the log function to print.
      assert.equal(entries[0]?.meta?.error, error);
    }
  });

  test('log fields of an activity: from its input, or its part’s workflow id for a poll', () => {
    assert.deepEqual(
      attemptFields({ runId: 'r1', part: 2, attempt: 3, batchId: 'batch_9' }, 'r1-part-2'),
      { run_id: 'r1', part: 2, attempt: 3, batch_id: 'batch_9' },
    );
    assert.deepEqual(attemptFields({ provider: 'openai', batchId: 'batch_9' }, 'my-run-part-12'), {
      run_id: 'my-run',
      part: 12,
      batch_id: 'batch_9',
    });
    assert.deepEqual(attemptFields({ runId: 'r1' }, 'r1'), { run_id: 'r1' });
  });
});
