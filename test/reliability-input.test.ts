import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before } from 'node:test';
import fc from 'fast-check';
import type { ResultLine } from '../src/client.js';
import { validateRequestsFile } from '../src/requests.js';
import { countStatuses } from './helpers/assertions.js';
import { runCli } from './helpers/cli.js';
import { scenarios } from './helpers/reliability.js';
import { chatLines } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// Broken input files through `nightshift submit`, with a real worker and provider (emulator)
// behind it, so that anything that slipped through would show up as a call or a run.

const scenario = scenarios('bad input');

const rig = useRig('reliability-input', { worker: 'process' });
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nightshift-bad-inputs-'));
});

const submit = (args: string[]) => runCli(['submit', ...args], rig.cliEnv());

const [GOOD = '', OTHER = ''] = chatLines(2, { prefix: 'ok' });
const request = (fields: Record<string, unknown>) =>
  JSON.stringify({ ...JSON.parse(OTHER), ...fields });

interface BadCase {
  name: string;
  /** File content; null: the path does not exist; 'dir': the path is a directory. */
  content: string | Buffer | null | 'dir';
  /** The problem, after `<file>:<line>: ` (or `<file>: ` for a whole-file problem). */
  line: number | null;
  problem: RegExp;
  args?: string[];
}

const BAD: BadCase[] = [
  {
    name: 'invalid JSON',
    content: `${GOOD}\n{"custom_id": "x",\n`,
    line: 2,
    problem: /invalid JSON/,
  },
  {
    name: 'missing custom_id',
    content: `${GOOD}\n${request({ custom_id: undefined })}\n`,
    line: 2,
    problem: /missing "custom_id"/,
  },
  {
    name: 'duplicate custom_id',
    content: `${GOOD}\n${GOOD}\n`,
    line: 2,
    problem: /duplicate custom_id "ok-1"/,
  },
  {
    name: 'wrong method',
    content: `${GOOD}\n${request({ method: 'GET' })}\n`,
    line: 2,
    problem: /"method" must be "POST", got "GET"/,
  },
  {
    name: 'wrong url',
    content: `${GOOD}\n${request({ url: '/v1/images/generations' })}\n`,
    line: 2,
    problem: /"url" must be one of/,
  },
  {
    name: 'mixed models',
    content: `${GOOD}\n${request({ body: { model: 'gpt-4o', messages: [] } })}\n`,
    line: 2,
    problem: /"body.model" is "gpt-4o" but line 1 uses "gpt-4o-mini"/,
  },
  { name: 'empty file (blank lines)', content: '\n\n', line: 1, problem: /blank line/ },
  { name: '0-byte file', content: '', line: null, problem: /no requests/ },
  {
    name: 'line over the size limit',
    content: `${GOOD}\n${request({ body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(2_000) }] } })}\n`,
    line: 2,
    problem: /line is longer than 1000 bytes/,
    args: ['--max-bytes-per-batch', '1000'],
  },
  {
    name: 'invalid UTF-8',
    content: Buffer.concat([
      Buffer.from(`${GOOD}\n{"custom_id": "`),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'),
    ]),
    line: 2,
    problem: /invalid UTF-8/,
  },
  { name: 'a path that does not exist', content: null, line: null, problem: /no such file/i },
  { name: 'a directory', content: 'dir', line: null, problem: /directory/i },
];

for (const [i, bad] of BAD.entries()) {
  scenario(
    `rejected: ${bad.name}`,
    `\`nightshift submit\`${bad.args ? ` ${bad.args.join(' ')}` : ''} of: ${bad.name}`,
    async () => {
      const path = bad.content === 'dir' ? dir : join(dir, `bad-${i + 1}.jsonl`);
      if (bad.content !== null && bad.content !== 'dir') {
        await writeFile(path, bad.content);
      }
      const calls = JSON.stringify(rig.emulator.stats().calls);
      const cli = await submit([path, '--id', `bad-${i + 1}`, ...(bad.args ?? [])]);
      const where = bad.line === null ? `${path}: ` : `${path}:${bad.line}: `;
      assert.ok(
        cli.stderr.includes(where) && bad.problem.test(cli.stderr),
        `expected "${where}${bad.problem.source}" in:\n${cli.stderr}`,
      );
      assert.equal(cli.code, 2, cli.stderr);
      assert.equal(cli.stdout, '', 'no run id printed: nothing submitted');
      assert.equal(JSON.stringify(rig.emulator.stats().calls), calls, 'no provider call');
      const started = [];
      for await (const wf of rig.client.workflow.list({
        query: `WorkflowId = 'bad-${i + 1}'`,
      })) {
        started.push(wf.workflowId);
      }
      assert.deepEqual(started, [], 'no run started');
      return { runs: 0, note: cli.stderr.split('\n')[0]?.replace(path, '<file>') ?? '' };
    },
  );
}

const ACCEPTED: { name: string; content: string }[] = [
  { name: 'UTF-8 BOM', content: `\uFEFF${GOOD}\n${OTHER}\n` },
  { name: 'CRLF line endings', content: `${GOOD}\r\n${OTHER}\r\n` },
  { name: 'BOM and CRLF, no final newline', content: `\uFEFF${GOOD}\r\n${OTHER}` },
];

for (const [i, ok] of ACCEPTED.entries()) {
  scenario(`accepted: ${ok.name}`, `\`nightshift submit --wait\` of: ${ok.name}`, async () => {
    const path = join(dir, `ok-${i + 1}.jsonl`);
    await writeFile(path, ok.content);
    const out = join(dir, `out-ok-${i + 1}`);
    const cli = await submit([path, '--id', `ok-${i + 1}`, '--poll-interval', '0.1', '--out', out]);
    assert.equal(cli.code, 0, cli.stderr);
    const results = (await readFile(join(out, 'results.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as ResultLine);
    assert.deepEqual(
      results.map((r) => r.custom_id),
      ['ok-1', 'ok-2'],
    );
    assert.deepEqual(countStatuses(results), { succeeded: 2 });
    return { runs: 1, note: 'run completed, 2/2 succeeded' };
  });
}

/** Bytes that matter to a line scanner: newlines, CR, BOM parts, invalid UTF-8, NUL, quotes. */
const NASTY = [0x0a, 0x0d, 0xef, 0xbb, 0xbf, 0xc3, 0xff, 0x80, 0x00, 0x22, 0x7b, 0x7d, 0x5c];

const corruption = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(...NASTY) }),
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), length: fc.nat({ max: 40 }) }),
);

type Corruption = typeof corruption extends fc.Arbitrary<infer T> ? T : never;

function corrupt(input: Buffer, edits: Corruption[]): Buffer {
  let bytes = Buffer.from(input);
  for (const edit of edits) {
    const at = bytes.length === 0 ? 0 : edit.at % (bytes.length + 1);
    if (edit.kind === 'insert') {
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(edit.bytes), bytes.subarray(at)]);
    } else if (edit.kind === 'cut') {
      bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + edit.length)]);
    } else if (at < bytes.length) {
      bytes[at] = edit.kind === 'set' ? edit.byte : (bytes[at] ?? 0) ^ edit.byte;
    }
  }
  return bytes;
}

/** Lines as the Batch API counts them: split on LF, a final LF ends the last line. */
function lineCount(bytes: Buffer): number {
  let n = 0;
  for (const b of bytes) if (b === 0x0a) n++;
  return bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a ? n + 1 : n;
}

const FUZZ_RUNS = 300;

scenario(
  'fuzz: byte-level corruption never crashes the validator; errors point at real lines',
  `${FUZZ_RUNS} files of 1-8 valid lines with up to 6 random byte edits (set, flip, insert, cut)`,
  async () => {
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(corruption, { minLength: 0, maxLength: 6 }),
        async (n, edits) => {
          const bytes = corrupt(Buffer.from(`${chatLines(n).join('\n')}\n`), edits);
          const path = join(dir, 'fuzz.jsonl');
          await writeFile(path, bytes);
          const report = await validateRequestsFile(path, { maxLineBytes: 4_096 });
          assert.equal(report.total, lineCount(bytes));
          assert.equal(report.ok, report.errorCount === 0);
          assert.equal(report.bytes, bytes.length);
          const lines = report.errors.map((e) => e.line);
          assert.deepEqual(
            lines,
            [...lines].sort((a, b) => a - b),
            'errors in line order',
          );
          // Line 0 is the whole file: only an empty one has a problem that no line carries.
          const first = report.total === 0 ? 0 : 1;
          for (const line of lines) {
            assert.ok(line >= first && line <= report.total, `line ${line} of ${report.total}`);
          }
          if (report.total === 0) assert.equal(report.ok, false, 'an empty file is an error');
          if (report.ok) assert.equal(report.endpoint, '/v1/chat/completions');
          if (edits.length === 0) assert.ok(report.ok);
          if (!report.ok) rejected++;
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
    assert.ok(rejected > 0, 'the corruptions broke something');
    return { runs: 0, note: `${rejected}/${FUZZ_RUNS} files rejected, none crashed the validator` };
  },
);
