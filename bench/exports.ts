// Exports of a finished records-mode run: `npm run bench:exports -- --size 1000000`. Each export
// (jsonl, csv, parquet) and a reference loop that only reads results.jsonl and parses each line
// run in a child process of their own, so that each peak RSS is that work's alone; time and peak
// RSS are given as ratios of the reference. Writes bench/results/exports-latest.md.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { artifactNames } from '../src/artifacts.js';
import { EXPORT_FORMATS, type ExportFormat, exportResults } from '../src/exports.js';
import { JsonlWriter } from '../src/jsonl.js';
import { seededRandom } from '../src/random.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { writeTemplateRequests } from '../src/templates.js';
import type { ResultLine, RunSummary } from '../workflows/types.js';
import { userMessage } from './generate.js';

const RESULTS = fileURLToPath(new URL('../../bench/results/exports-latest.md', import.meta.url));
const MB = 1024 * 1024;
const RUN_ID = 'bench-exports';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1000000' },
    // A child: one measurement, `read` or a format, of the run in `--home`.
    child: { type: 'string' },
    home: { type: 'string' },
  },
});

interface Measure {
  seconds: number;
  maxRssMb: number;
}

/** In a child: the work, then its time and this process's peak RSS on stdout. */
async function measure(home: string, what: string): Promise<void> {
  const store = new LocalArtifactStore(home);
  const started = process.hrtime.bigint();
  if (what === 'read') {
    for await (const { text } of store.readLines(RUN_ID, artifactNames.results)) JSON.parse(text);
  } else {
    await exportResults(store, RUN_ID, what as ExportFormat, join(home, `out.${what}`));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const result: Measure = { seconds, maxRssMb: (process.resourceUsage().maxRSS * 1024) / MB };
  console.log(JSON.stringify(result));
}

/**
 * A finished records-mode run of `n` lines in a local store under `home`: records made by
 * template mode from a CSV, and results shaped like chat completions (one in 20 failed).
 */
async function makeRun(home: string, n: number): Promise<void> {
  const random = seededRandom(7);
  const csv = join(home, 'records.csv');
  const records = await JsonlWriter.open(csv);
  await records.write('id,review,stars');
  for (let i = 0; i < n; i++) {
    await records.write(`r${i},"${userMessage(random, i).slice(0, 200)}",${1 + (i % 5)}`);
  }
  await records.commit();
  const store = new LocalArtifactStore(home);
  await writeTemplateRequests(
    { kind: 'records', path: csv, template: 'Sentiment of: {{review}}' },
    { model: 'gpt-4o-mini', idField: 'id', maxTokens: 16 },
    join(home, 'input.jsonl'),
    { store, runId: RUN_ID },
  );
  const results = await store.writer(RUN_ID, artifactNames.results);
  for (let i = 0; i < n; i++) {
    const ok = i % 20 !== 19;
    const text = ['positive', 'negative', 'neutral'][i % 3] as string;
    const line: ResultLine = {
      custom_id: `r${i}`,
      status: ok ? 'succeeded' : 'failed',
      response: ok
        ? {
            status_code: 200,
            request_id: `req_${i}`,
            body: {
              id: `chatcmpl-${i}`,
              object: 'chat.completion',
              model: 'gpt-4o-mini-2024-07-18',
              choices: [
                { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' },
              ],
              usage: { prompt_tokens: 60 + (i % 40), completion_tokens: 1, total_tokens: 61 },
            },
          }
        : null,
      ...(ok ? { output_text: text } : {}),
      error: ok ? null : { code: 'server_error', message: 'The server had an error' },
      attempts: ok ? 1 : 3,
      batch_id: `batch_${Math.floor(i / 50_000)}`,
    };
    await results.write(JSON.stringify(line));
  }
  await results.commit();
  await store.writeJson(RUN_ID, artifactNames.summary, {
    run_id: RUN_ID,
    results_path: artifactNames.results,
    counts: { total: n },
  } as Partial<RunSummary>);
}

async function child(home: string, what: string): Promise<Measure> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', what, '--home', home],
    { maxBuffer: MB },
  );
  return JSON.parse(stdout) as Measure;
}

async function main(): Promise<void> {
  const size = Number(values.size);
  const home = await mkdtemp(join(tmpdir(), 'nightshift-bench-exports-'));
  try {
    console.error(`making a records run of ${size} lines in ${home}…`);
    await makeRun(home, size);
    const resultsMb = (await stat(join(home, 'runs', RUN_ID, 'results.jsonl'))).size / MB;
    const read = await child(home, 'read');
    const rows = [
      `| read results.jsonl, JSON.parse each line | ${read.seconds.toFixed(1)} s | 1.00× | ${read.maxRssMb.toFixed(0)} MB | 1.00× | |`,
    ];
    for (const format of EXPORT_FORMATS) {
      console.error(`exporting ${format}…`);
      const m = await child(home, format);
      const outMb = (await stat(join(home, `out.${format}`))).size / MB;
      rows.push(
        `| export ${format} | ${m.seconds.toFixed(1)} s | ${(m.seconds / read.seconds).toFixed(2)}× | ` +
          `${m.maxRssMb.toFixed(0)} MB | ${(m.maxRssMb / read.maxRssMb).toFixed(2)}× | ${outMb.toFixed(0)} MB |`,
      );
    }
    const report = [
      `# Exports of ${size.toLocaleString('en')} result lines`,
      '',
      `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}.`,
      `A records-mode run (3 record columns), results.jsonl ${resultsMb.toFixed(0)} MB; each row its own child process.`,
      '',
      '| what | time | × read | peak RSS | × read | file |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n');
    await writeFile(RESULTS, report);
    console.log(report);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

if (values.child && values.home) await measure(values.home, values.child);
else await main();
