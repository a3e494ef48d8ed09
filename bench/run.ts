// One command: `npm run bench -- --sizes 10000,100000 [--per-request-ms 0.6] [--profile]`.
// Writes bench/results/<date>.md and bench/results/latest.md. Sizes above --baseline-up-to
// (1M) run Nightshift alone: the naive script holds the whole input and fails there.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDevServer } from '../test/helpers/temporal.js';
import { benchSize, type ManyRunsResult, manyRuns, type SizeResult } from './harness.js';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,200000,1000000' },
    // 30 s per full part of 50,000: long enough that the provider is the floor.
    'per-request-ms': { type: 'string', default: '0.6' },
    // Sizes of 20 parts and more would keep the sequential baseline busy for 10+ minutes at the
    // same rate; what they measure is memory, so they run at a faster provider.
    'large-per-request-ms': { type: 'string', default: '0.1' },
    'large-from': { type: 'string', default: '500000' },
    'baseline-up-to': { type: 'string', default: '1000000' },
    'poll-seconds': { type: 'string', default: '1' },
    runs: { type: 'string', default: '200' },
    profile: { type: 'boolean', default: false },
    // Nightshift without its result cache (lookups in prepare, an entry per success).
    'no-cache': { type: 'boolean', default: false },
    out: { type: 'string' },
    // Size results (one JSON object a line, as this command logs them) of an earlier invocation
    // on the same machine, reported beside this one's.
    include: { type: 'string' },
  },
});

const sizes = values.sizes.split(',').map(Number);
const dir = await mkdtemp(join(tmpdir(), 'nightshift-bench-'));
const profileDir = values.profile ? join(dir, 'profiles') : undefined;
const env = await startDevServer();
const results: SizeResult[] = values.include
  ? (await readFile(values.include, 'utf8'))
      .split('\n')
      .filter((line) => line.startsWith('{"size"'))
      .map((line) => JSON.parse(line) as SizeResult)
  : [];
const included = results.map((r) => r.size);
let many: ManyRunsResult | null = null;
try {
  for (const size of sizes) {
    const perRequestMs = Number(
      size >= Number(values['large-from'])
        ? values['large-per-request-ms']
        : values['per-request-ms'],
    );
    const profile = profileDir && join(profileDir, String(size));
    console.error(`bench: ${size} requests at ${perRequestMs} ms per request…`);
    const result = await benchSize(env, size, {
      perRequestMs,
      pollSeconds: Number(values['poll-seconds']),
      dir,
      profileDir: profile,
      noCache: values['no-cache'],
      noBaseline: size > Number(values['baseline-up-to']),
    });
    results.push(result);
    console.error(JSON.stringify(result));
  }
  if (Number(values.runs) > 0) {
    console.error(`bench: ${values.runs} runs at once…`);
    many = await manyRuns(env, {
      runs: Number(values.runs),
      requestsPerRun: 20,
      dir,
    });
    console.error(JSON.stringify(many));
  }
  const profiles = profileDir ? await summarizeProfiles(profileDir) : '';
  const markdown = report(
    results.sort((a, b) => a.size - b.size),
    many,
    profiles,
  );
  const date = new Date().toISOString().slice(0, 10);
  await mkdir(RESULTS_DIR, { recursive: true });
  // An explicit --out is a side run (a profile, say): it leaves latest.md alone.
  for (const name of values.out ? [values.out] : [`${date}.md`, 'latest.md']) {
    await writeFile(join(RESULTS_DIR, name), markdown);
  }
  console.log(markdown);
} finally {
  await env.teardown();
  await rm(dir, { recursive: true, force: true });
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

function s(x: number): string {
  return x.toFixed(1);
}

function ratio(x: number): string {
  return x.toFixed(2);
}

function verdict(ok: boolean): string {
  return ok ? '**PASS**' : '**FAIL**';
}

function report(sizes: SizeResult[], many: ManyRunsResult | null, profiles: string): string {
  const cpu = cpus();
  const lines = [
    `# Nightshift benchmark — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${mb(totalmem())} MB RAM, Node ${process.version}, ${process.platform}/${process.arch}.`,
    '',
    'Both contenders run against the same emulator (one per size) with the same timing:',
    'validating 200 ms + requests × per-request time + finalizing 200 ms, plus the',
    "emulator's own work (scanning the upload, writing the output file). The baseline polls",
    `every ${values['poll-seconds']} s; Nightshift polls between ${values['poll-seconds']} s and twice that.`,
    "Floor = the emulator's own time per batch, `completed_at − created_at` (whole seconds, as",
    "the API reports them): **summed** over the baseline's batches (it runs them one after",
    "another), **max** over Nightshift's (all parts in flight at once). Nominal floor = the same",
    "from the configured timing only. Nightshift's wall time runs from `submit()` (which",
    'validates the file locally) to the end of the run, with its worker already started.',
    '',
    ...(included.length
      ? [
          `Sizes ${included.map((n) => n.toLocaleString('en-US')).join(', ')} come from an earlier invocation on the same machine the same day (\`--include\`).`,
          '',
        ]
      : []),
    ...(sizes.some((r) => !r.baseline)
      ? [
          `Sizes over ${Number(values['baseline-up-to']).toLocaleString('en-US')} run Nightshift alone: the naive script holds the whole input in memory and fails past 1M. Their last column says whether every request came back, in input order.`,
          '',
        ]
      : []),
    '## Per size',
    '',
    '| requests | input MB | ms/request | baseline wall s | baseline floor s | Nightshift wall s | Nightshift floor s (nominal) | overhead over floor | wall ratio NS/baseline | baseline peak RSS MB | worker peak RSS MB | worker CPU s | results identical |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|',
  ];
  for (const r of sizes) {
    const ns = r.nightshift;
    const base = r.baseline;
    lines.push(
      `| ${r.size.toLocaleString('en-US')} | ${mb(r.inputBytes)} | ${r.perRequestMs} | ${base ? s(base.wallSeconds) : '—'} | ${base ? s(base.floorSeconds) : '—'} | ${s(ns.wallSeconds)} | ${s(ns.floorSeconds)} (${s(ns.nominalFloorSeconds)}) | ${pct(ns.wallSeconds / ns.floorSeconds - 1)} | ${base ? ratio(ns.wallSeconds / base.wallSeconds) : '—'} | ${base ? mb(base.maxRssBytes) : '—'} | ${mb(ns.maxRssBytes)} | ${s(ns.cpuSeconds)} | ${sameResults(r)} |`,
    );
  }
  lines.push(
    '',
    '## Where the time goes',
    '',
    "Nightshift's wall time split at three moments of its run (from the history): the last part's",
    'batch created; the last part seeing its batch done (its download begins); the last part',
    'classified. Beside them, the floor from the table above: the provider time nobody can beat.',
    '',
    '| requests | validate + prepare + upload + create s | provider + polling s | floor s | download + classify s | merge + summary s | wall s |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...sizes.flatMap((r) => {
      const p = r.nightshift.phases;
      return p
        ? [
            `| ${r.size.toLocaleString('en-US')} | ${s(p.toLastBatch)} | ${s(p.providerAndPolling)} | ${s(r.nightshift.floorSeconds)} | ${s(p.downloadAndClassify)} | ${s(p.merge)} | ${s(r.nightshift.wallSeconds)} |`,
          ]
        : [];
    }),
    '',
    '## Throughput and history',
    '',
    "`prepare` and `merge` are called directly on the run's own bytes after the run (nothing else",
    'running); the raw loop reads the same file in 1 MB chunks, splits lines and `JSON.parse`s',
    'each, nothing else. Prepare is measured over the input, merge over results.jsonl; each figure',
    'is the best of three rounds, each activity right after its reference loop.',
    'History events: per part workflow (summed over its continue-as-new chain), the largest single',
    'execution, and the run workflow. In-run: the prepare and finalize (merge + summary) activities',
    'from their history events.',
    '',
    '| requests | prepare MB/s | raw parse (input) MB/s | prepare / raw | merge MB/s | raw parse (results) MB/s | merge / raw | prepare in run s | finalize in run s | events per part | max events per execution | run events |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of sizes) {
    const t = r.throughput;
    const ns = r.nightshift;
    lines.push(
      `| ${r.size.toLocaleString('en-US')} | ${t.prepareMBps.toFixed(0)} | ${t.rawInputMBps.toFixed(0)} | ${ratio(t.prepareMBps / t.rawInputMBps)} | ${t.mergeMBps.toFixed(0)} | ${t.rawResultsMBps.toFixed(0)} | ${ratio(t.mergeMBps / t.rawResultsMBps)} | ${s(ns.prepareActivitySeconds)} | ${s(ns.finalizeActivitySeconds)} | ${ns.historyEventsPerPart} | ${ns.maxHistoryEventsPerExecution} | ${ns.runHistoryEvents} |`,
    );
  }
  if (many) {
    lines.push(
      '',
      `## ${many.runs} runs at once on one worker`,
      '',
      '| runs | requests each | all correct | wall s | worker CPU s | worker peak RSS MB |',
      '|---:|---:|:-:|---:|---:|---:|',
      `| ${many.runs} | ${many.requestsPerRun} | ${many.allCorrect ? 'yes' : `NO: ${many.failures.slice(0, 3).join('; ')}`} | ${s(many.wallSeconds)} | ${s(many.workerCpuSeconds)} | ${mb(many.workerMaxRssBytes)} |`,
    );
  }
  lines.push('', '## Targets', '', '| target | measured | verdict |', '|---|---|:-:|');
  lines.push(...targets(sizes, many));
  if (profiles) lines.push('', '## Worker CPU profile (self time, top functions)', '', profiles);
  return `${lines.join('\n')}\n`;
}

/** Whether Nightshift's results are the baseline's (or, without one, in the input's order). */
function sameResults({ baseline, nightshift, inputDigest }: SizeResult): string {
  if (!baseline) {
    const inOrder = nightshift.idsDigest === inputDigest;
    return `no baseline; ${inOrder ? 'every request, in input order' : 'NOT in input order'}`;
  }
  if (baseline.failed) return `baseline failed: ${baseline.failed}`;
  return nightshift.digest === baseline.digest ? 'yes' : 'NO';
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function targets(sizes: SizeResult[], many: ManyRunsResult | null): string[] {
  const at = (n: number) => sizes.find((r) => r.size === n);
  const rows: string[] = [];
  const row = (name: string, measured: string | null, ok: boolean) =>
    rows.push(
      `| ${name} | ${measured ?? 'not run'} | ${measured === null ? 'n/a' : verdict(ok)} |`,
    );
  const k200 = at(200_000);
  const wallRatio = k200?.baseline && k200.nightshift.wallSeconds / k200.baseline.wallSeconds;
  row(
    'wall ≤ 0.30× baseline at 200k',
    wallRatio ? `${ratio(wallRatio)}×` : null,
    (wallRatio ?? 1) <= 0.3,
  );
  const overhead = k200 && k200.nightshift.wallSeconds / k200.nightshift.floorSeconds - 1;
  row(
    'overhead over the floor ≤ 10% at 200k',
    overhead !== undefined ? pct(overhead) : null,
    (overhead ?? 1) <= 0.1,
  );
  const m1 = at(1_000_000);
  const k100 = at(100_000);
  for (const [label, r] of [
    ['1M', m1],
    ['5M', at(5_000_000)],
  ] as const) {
    row(
      `worker peak RSS ≤ 300 MB at ${label}`,
      r ? `${mb(r.nightshift.maxRssBytes)} MB` : null,
      (r?.nightshift.maxRssBytes ?? Infinity) <= 300 * 1024 * 1024,
    );
  }
  const growth = m1 && k100 && m1.nightshift.maxRssBytes / k100.nightshift.maxRssBytes;
  row(
    'worker RSS at 1M ≤ 1.5× its value at 100k',
    growth ? `${ratio(growth)}×` : null,
    (growth ?? 2) <= 1.5,
  );
  const vsBase = m1?.baseline && m1.nightshift.maxRssBytes / m1.baseline.maxRssBytes;
  row(
    'worker RSS ≤ 0.25× the baseline peak at 1M',
    vsBase ? `${ratio(vsBase)}×` : null,
    (vsBase ?? 1) <= 0.25,
  );
  const largest = sizes.at(-1);
  if (largest) {
    const t = largest.throughput;
    const label = largest.size.toLocaleString('en-US');
    row(
      `prepare ≥ 0.6× raw parse (${label})`,
      `${ratio(t.prepareMBps / t.rawInputMBps)}×`,
      t.prepareMBps / t.rawInputMBps >= 0.6,
    );
    row(
      `merge ≥ 0.6× raw parse (${label})`,
      `${ratio(t.mergeMBps / t.rawResultsMBps)}×`,
      t.mergeMBps / t.rawResultsMBps >= 0.6,
    );
  }
  // Continue-as-new keeps every execution under DEFAULT_MAX_HISTORY_EVENTS (2,000) plus the
  // events of one last poll round.
  const maxEvents = Math.max(0, ...sizes.map((r) => r.nightshift.maxHistoryEventsPerExecution));
  row(
    'history events per execution bounded (continue-as-new at 2,000)',
    sizes.length ? `max ${maxEvents} per execution` : null,
    maxEvents <= 2_050,
  );
  row(
    `${many?.runs ?? 200} runs at once on one worker: all correct`,
    many ? `${many.runs - many.failures.length}/${many.runs} correct` : null,
    many?.allCorrect ?? false,
  );
  return rows;
}

/** Self time per function over every profile the workers wrote, top 15. */
async function summarizeProfiles(root: string): Promise<string> {
  const out: string[] = [];
  for (const size of await readdir(root).catch(() => [])) {
    const files = (await readdir(join(root, size))).filter((f) => f.endsWith('.cpuprofile'));
    for (const file of files) {
      const profile = JSON.parse(await readFile(join(root, size, file), 'utf8')) as CpuProfile;
      out.push(
        `### ${Number(size).toLocaleString('en-US')} requests`,
        '',
        ...topFunctions(profile),
        '',
      );
    }
  }
  return out.join('\n');
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

function topFunctions(profile: CpuProfile): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    if (!frame) return;
    const where = frame.url
      ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '')}:${frame.lineNumber + 1}`
      : 'native';
    const key = `${frame.functionName || '(anonymous)'} — ${where}`;
    self.set(key, (self.get(key) ?? 0) + us);
  });
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return [
    `Total ${(total / 1e6).toFixed(1)} s sampled.`,
    '',
    '| self s | share | function |',
    '|---:|---:|---|',
    ...top.map(([key, us]) => `| ${(us / 1e6).toFixed(2)} | ${pct(us / total)} | ${key} |`),
  ];
}
