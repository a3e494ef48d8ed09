// The same run on both artifact stores: `npm run bench:stores -- --size 100000`. The local store
// (a folder) against the S3 store (SeaweedFS on loopback, installed by
// scripts/install-seaweedfs.sh), each with its worker in a child process, on one emulator; the
// S3 figures as ratios of the local ones. Writes bench/results/stores-latest.md.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ArtifactStore } from '../src/artifacts.js';
import { Nightshift } from '../src/client.js';
import { startEmulator } from '../src/emulator/index.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { S3Server } from '../test/helpers/s3.js';
import { startDevServer } from '../test/helpers/temporal.js';
import { generateRequests } from './generate.js';
import { startWorker } from './harness.js';
import type { WorkerReport } from './worker.js';

const RESULTS = fileURLToPath(new URL('../../bench/results/stores-latest.md', import.meta.url));
const MB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '100000' },
    'per-request-ms': { type: 'string', default: '0.2' },
  },
});
const size = Number(values.size);
const perRequestMs = Number(values['per-request-ms']);

interface StoreRun {
  wallSeconds: number;
  workerPeakRssMb: number;
  workerCpuSeconds: number;
  /** sha256 over custom_id + status of results.jsonl, in order: both stores must agree. */
  digest: string;
}

/** One run of the input on `store`, its worker told where the store is by `storeEnv`. */
async function runOn(
  env: TestWorkflowEnvironment,
  name: string,
  store: ArtifactStore,
  storeEnv: Record<string, string>,
  context: { dir: string; input: string; emulatorUrl: string },
): Promise<StoreRun> {
  const taskQueue = `bench-store-${name}-${process.pid}`;
  const worker = await startWorker(env, {
    // The worker's own empty home: with S3 it reads and writes nothing there but scratch.
    home: join(context.dir, `worker-${name}`),
    taskQueue,
    emulatorUrl: context.emulatorUrl,
    storeEnv,
  });
  const nightshift = new Nightshift(env.client, taskQueue, store);
  const started = process.hrtime.bigint();
  let report: WorkerReport;
  try {
    const { run } = await nightshift.submit(context.input, {
      id: `stores-${name}`,
      pollIntervalSeconds: 1,
      maxPollIntervalSeconds: 2,
      maxConcurrentBatches: Math.ceil(size / 50_000),
    });
    await run.wait();
  } finally {
    report = await worker.stop();
  }
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const hash = createHash('sha256');
  for await (const line of nightshift.run(`stores-${name}`).results()) {
    hash.update(`${line.custom_id}\t${line.status}\n`);
  }
  return {
    wallSeconds,
    workerPeakRssMb: report.maxRssBytes / MB,
    workerCpuSeconds: report.cpuSeconds,
    digest: hash.digest('hex'),
  };
}

const dir = await mkdtemp(join(tmpdir(), 'nightshift-bench-stores-'));
const env = await startDevServer();
const s3 = await S3Server.start();
const emulator = await startEmulator({
  timing: { validatingMs: 200, perRequestMs, finalizingMs: 200, completionWindowMs: 6 * 3600_000 },
});
try {
  const input = join(dir, 'requests.jsonl');
  const inputBytes = await generateRequests(input, size);
  const context = { dir, input, emulatorUrl: emulator.url };
  const home = join(dir, 'local');
  await mkdir(home, { recursive: true });
  const local = await runOn(
    env,
    'local',
    new LocalArtifactStore(home),
    { NIGHTSHIFT_HOME: home },
    context,
  );
  const shared = await s3.shared('bench');
  const remote = await runOn(env, 's3', shared.store, shared.env, context);
  if (local.digest !== remote.digest) throw new Error('the two stores gave different results');

  const row = (label: string, l: number, r: number, unit: string) =>
    `| ${label} | ${l.toFixed(1)} ${unit} | ${r.toFixed(1)} ${unit} | ${(r / l).toFixed(2)}× |`;
  const table = [
    `# The same run on both stores`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ` +
      `Node ${process.version}: ${size.toLocaleString('en-US')} chat requests ` +
      `(${(inputBytes / MB).toFixed(0)} MB) at ${perRequestMs} ms a request at the emulator, ` +
      'one worker in a child process each; the S3 store is SeaweedFS `weed mini` on loopback. ' +
      'Results identical (sha256 over custom_id + status).',
    '',
    '| | local | S3 | S3 / local |',
    '|---|---:|---:|---:|',
    row('wall time, submit to end', local.wallSeconds, remote.wallSeconds, 's'),
    row('worker peak RSS', local.workerPeakRssMb, remote.workerPeakRssMb, 'MB'),
    row('worker CPU', local.workerCpuSeconds, remote.workerCpuSeconds, 's'),
    '',
    '`npm run bench:stores -- --size 100000` makes this table.',
    '',
  ].join('\n');
  await writeFile(RESULTS, table);
  console.log(table);
} finally {
  await emulator.close();
  await s3.stop();
  await env.teardown();
  await rm(dir, { recursive: true, force: true });
}
