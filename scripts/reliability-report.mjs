#!/usr/bin/env node
// Turns the rows the reliability suite wrote (NIGHTSHIFT_RELIABILITY_REPORT=<rows.jsonl>) into
// docs/reliability.md, so that the committed table is what the suite last observed:
//
//   rm -f /tmp/rows.jsonl
//   NIGHTSHIFT_RELIABILITY_REPORT=/tmp/rows.jsonl node --test --test-concurrency=1 \
//     dist/test/reliability-*.test.js
//   node scripts/reliability-report.mjs /tmp/rows.jsonl docs/reliability.md
import { readFileSync, writeFileSync } from 'node:fs';

const [rowsPath, outPath] = process.argv.slice(2);
if (!rowsPath) {
  console.error('usage: reliability-report.mjs <rows.jsonl> [out.md]');
  process.exit(2);
}
const rows = readFileSync(rowsPath, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l));

const cell = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');
const themes = [...new Set(rows.map((r) => r.theme))];
const failed = rows.filter((r) => r.result.startsWith('FAIL')).length;
const seconds = rows.reduce((n, r) => n + r.seconds, 0);

const out = [];
out.push('# Reliability');
out.push('');
out.push(
  'What Nightshift survives, as shown by `test/reliability-*.test.ts` against a real Temporal dev',
  'server, real `nightshift worker` and `nightshift submit` processes and the Batch API emulator',
  'over HTTP. **The tables below are generated** from the rows the suite writes when',
  '`NIGHTSHIFT_RELIABILITY_REPORT` is set (`scripts/reliability-report.mjs`; see its header);',
  'do not edit them by hand.',
);
out.push('');
out.push(
  'Every scenario that runs Nightshift checks, besides its own assertions: `results.jsonl` has',
  'exactly one line per input line, in input order, with the expected statuses; the emulator saw',
  'at most one batch per run, part, attempt and try; and no `custom_id` was submitted more often',
  'than the attempts its result line reports.',
);
out.push('');
out.push(
  `Last run: ${rows.length} scenarios, ${rows.length - failed} passed, ${failed} failed, ` +
    `${Math.round(seconds)} s of scenario time.`,
);
for (const theme of themes) {
  out.push('', `## ${theme[0].toUpperCase()}${theme.slice(1)}`, '');
  out.push('| scenario | injected | runs | result | s |', '|---|---|---:|---|---:|');
  for (const r of rows.filter((row) => row.theme === theme)) {
    out.push(
      `| ${cell(r.scenario)} | ${cell(r.injected)} | ${r.runs} | ${cell(r.result)} | ${r.seconds} |`,
    );
  }
}

const inputs = rows.filter((r) => /^(accepted|rejected): /.test(r.scenario));
if (inputs.length > 0) {
  out.push('', '## Input files: accepted and rejected', '');
  out.push(
    'Rejected files must exit 2 before any call (no provider call, no run started) with',
    '`<file>:<line>: <problem>`; accepted ones run to completion. "FAIL" marks a case where',
    'Nightshift does not yet behave as stated.',
    '',
  );
  for (const r of inputs) {
    const [verdict, what] = r.scenario.split(': ');
    const ok = r.result.startsWith('pass');
    out.push(
      `- **${what}**: ${verdict}${ok ? '' : ' — FAIL, see the bugs below'} (${cell(r.result)})`,
    );
  }
}

out.push(
  '',
  readFileSync(new URL('./reliability-notes.md', import.meta.url), 'utf8').trimEnd(),
  '',
);
const text = out.join('\n');
if (outPath) writeFileSync(outPath, text);
else process.stdout.write(text);
