// `npm run bench:scale -- --size 1000000 --workers 1,2,3 [--per-request-ms 0.1] [--out x.md]`
// One large run per worker count against the emulator, no baseline (the naive script holds
// the whole input in memory and fails past 1M): wall time and speed-up, each worker's share of
// the activities, peak RSS and CPU; the largest history of any execution; and the disk the run
// uses at its peak, sampled every second, with what lay on it then.

import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { artifactNames } from '../src/artifacts.js';
import { Nightshift } from '../src/client.js';
import { startEmulator } from '../src/emulator/index.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { startDevServer } from '../test/helpers/temporal.js';
import { generateRequests } from './generate.js';
import {
  FINALIZING_MS,
  histories,
  inputDigest,
  resultsDigest,
  startWorker,
  VALIDATING_MS,
} from './harness.js';
import type { WorkerReport } from './worker.js';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const MB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1000000' },
    workers: { type: 'string', default: '1,2,3' },
    'per-request-ms': { type: 'string', default: '0.1' },
    'poll-seconds': { type: 'string', default: '1' },
    out: { type: 'string', default: 'scale-latest.md' },
    // Small parts make many of them (3,000 parts of 10: fan-out in levels), few in flight.
    'part-size': { type: 'string', default: '50000' },
    concurrency: { type: 'string' },
    'fan-out-width': { type: 'string' },
  },
});

interface ScaleResult {
  workers: number;
  wallSeconds: number;
  succeeded: number;
  inOrder: boolean;
  reports: WorkerReport[];
  /** Activities each worker ran, in the order of `reports`' workers (by identity). */
  shares: number[];
  maxEventsPerExecution: number;
  runEvents: number;
  workflows: number;
  peakDiskBytes: number;
  /** What lay on disk at the peak: bytes by folder of the run (and the input). */
  peakDiskParts: Record<string, number>;
}

/** Bytes by first folder under the run (parts/, downloads/, …), the cache, and the input. */
async function diskUse(home: string, input: string): Promise<Record<string, number>> {
  const use: Record<string, number> = { input: (await stat(input)).size };
  const files = await readdir(home, { recursive: true }).catch(() => [] as string[]);
  for (const file of files) {
    const info = await stat(join(home, file)).catch(() => null);
    if (!info?.isFile()) continue;
    const segments = file.split(sep);
    const key = segments[0] === 'runs' ? (segments[2] ?? '') : (segments[0] ?? '');
    const folder = key.includes('.') ? 'run files' : key;
    use[folder] = (use[folder] ?? 0) + info.size;
  }
  return use;
}

const total = (use: Record<string, number>) => Object.values(use).reduce((a, b) => a + b, 0);

async function oneRun(
  env: Awaited<ReturnType<typeof startDevServer>>,
  workers: number,
  input: string,
  size: number,
  dir: string,
): Promise<ScaleResult> {
  const perRequestMs = Number(values['per-request-ms']);
  const emulator = await startEmulator({
    timing: {
      validatingMs: VALIDATING_MS,
      perRequestMs,
      finalizingMs: FINALIZING_MS,
      completionWindowMs: 6 * 3600_000,
    },
  });
  const home = join(dir, `home-${workers}`);
  await mkdir(home, { recursive: true });
  const taskQueue = `scale-${workers}-${process.pid}`;
  const started = await Promise.all(
    Array.from({ length: workers }, () =>
      startWorker(env, { home, taskQueue, emulatorUrl: emulator.url }),
    ),
  );
  let peak: Record<string, number> = {};
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const use = await diskUse(home, input);
      if (total(use) > total(peak)) peak = use;
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const runId = `scale-${size}-${workers}`;
  const store = new LocalArtifactStore(home);
  const t0 = process.hrtime.bigint();
  let reports: WorkerReport[];
  try {
    const { run } = await new Nightshift(env.client, taskQueue, store).submit(input, {
      id: runId,
      pollIntervalSeconds: Number(values['poll-seconds']),
      maxPollIntervalSeconds: Number(values['poll-seconds']) * 2,
      maxRequestsPerBatch: partSize,
      maxConcurrentBatches: Number(values.concurrency ?? Math.ceil(size / partSize)),
      ...(values['fan-out-width'] ? { fanOutWidth: Number(values['fan-out-width']) } : {}),
    });
    await run.wait();
  } finally {
    sampling = false;
    await sampler;
    reports = await Promise.all(started.map((w) => w.stop()));
  }
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const history = await histories(env, runId);
  const { idsDigest, counts } = await resultsDigest(store.path(runId, artifactNames.results));
  await emulator.close();
  await rm(home, { recursive: true, force: true });
  return {
    workers,
    wallSeconds,
    succeeded: counts.succeeded ?? 0,
    inOrder: idsDigest === (await inputDigest(input)),
    reports,
    shares: Object.values(history.byWorker).sort((a, b) => b - a),
    maxEventsPerExecution: history.maxPerExecution,
    runEvents: history.runEvents,
    workflows: history.workflows,
    peakDiskBytes: total(peak),
    peakDiskParts: peak,
  };
}

function report(size: number, inputBytes: number, results: ScaleResult[]): string {
  const cpu = cpus();
  const one = results.find((r) => r.workers === 1)?.wallSeconds;
  const mb = (b: number) => (b / MB).toFixed(0);
  const rows = results.map((r) => {
    const activities = r.shares.reduce((a, b) => a + b, 0);
    const shares = r.shares.map((n) => `${((100 * n) / activities).toFixed(0)}%`).join(' / ');
    const rss = r.reports.map((w) => mb(w.maxRssBytes)).join(' / ');
    const cpuS = r.reports.map((w) => w.cpuSeconds.toFixed(1)).join(' / ');
    const onDisk = Object.entries(r.peakDiskParts)
      .filter(([, b]) => b > 0)
      .sort(([, a], [, b]) => b - a)
      .map(([k, b]) => `${k} ${mb(b)}`)
      .join(', ');
    return (
      `| ${size.toLocaleString('en-US')} | ${r.workers} | ${r.wallSeconds.toFixed(1)} | ` +
      `${one ? (one / r.wallSeconds).toFixed(2) : 'n/a'} | ${shares} | ${cpuS} | ${rss} | ` +
      `${r.succeeded === size && r.inOrder ? 'yes' : `no (${r.succeeded} succeeded)`} | ` +
      `${r.maxEventsPerExecution} | ${r.workflows} | ` +
      `${(r.peakDiskBytes / inputBytes).toFixed(2)}× (${onDisk}) |`
    );
  });
  return [
    `# Nightshift at scale — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${mb(totalmem())} MB RAM, Node ${process.version}.`,
    `Input: ${size.toLocaleString('en-US')} chat requests, ${mb(inputBytes)} MB, in parts of ${partSize.toLocaleString('en-US')}; emulator ${values['per-request-ms']} ms a request; ${values.concurrency ?? 'every'} part(s) in flight; fan-out width ${values['fan-out-width'] ?? 1000}; local store shared by the workers (one machine), result cache on.`,
    "On disk at the peak: `input` the requests file, `parts` its split copies, `downloads` the providers' output files, `results` the attempts' results, `run files` results.jsonl (being written) and the run's small files, `cache` the result cache's packs.",
    '',
    '| requests | workers | wall s | speed-up | activities per worker | CPU s per worker | peak RSS MB per worker | all succeeded, in order | max events per execution | workflows | peak disk × input (MB at the peak) |',
    '|---:|---:|---:|---:|:--|:--|:--|:-:|---:|---:|:--|',
    ...rows,
    '',
  ].join('\n');
}

const size = Number(values.size);
const partSize = Number(values['part-size']);
const counts = values.workers.split(',').map(Number);
const dir = await mkdtemp(join(tmpdir(), 'nightshift-scale-'));
const env = await startDevServer();
try {
  const input = join(dir, 'requests.jsonl');
  console.error(`scale: generating ${size} requests…`);
  const inputBytes = await generateRequests(input, size);
  const results: ScaleResult[] = [];
  for (const workers of counts) {
    console.error(`scale: ${size} requests, ${workers} worker(s)…`);
    const result = await oneRun(env, workers, input, size, dir);
    console.error(JSON.stringify(result));
    results.push(result);
  }
  const markdown = report(size, inputBytes, results);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, values.out), markdown);
  console.log(markdown);
} finally {
  await env.teardown();
  await rm(dir, { recursive: true, force: true });
}
