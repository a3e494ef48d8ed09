import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { LocalArtifactStore } from '../../src/artifacts.js';
import { Nightshift, type ResultLine, type Run } from '../../src/client.js';
import {
  type Emulator,
  type EmulatorOptions,
  type EmulatorStats,
  startEmulator,
} from '../../src/emulator/index.js';
import { partWorkflowId } from '../../workflows/ids.js';
import type { RunSummary } from '../../workflows/types.js';
import { type CliProcess, eventually, spawnCli } from './cli.js';
import { recordHistories as recordRunHistories } from './histories.js';
import { chatLines } from './stack.js';
import { startDevServer } from './temporal.js';

export { chatLines, eventually };

// ---------------------------------------------------------------------------------------------
// Report rows: every scenario appends one JSON line to NIGHTSHIFT_RELIABILITY_REPORT, which
// scripts/reliability-report.mjs turns into the table of docs/reliability.md. The table is
// therefore what the suite really did, not what someone wrote down.

export interface ScenarioRow {
  theme: string;
  scenario: string;
  injected: string;
  runs: number;
  result: string;
  seconds: number;
}

export interface Outcome {
  /** Nightshift runs the scenario started (or submits it made, for input scenarios). */
  runs: number;
  /** What was observed, beyond "pass". */
  note?: string;
}

async function recordRow(row: ScenarioRow): Promise<void> {
  const path = process.env.NIGHTSHIFT_RELIABILITY_REPORT;
  if (path) await appendFile(path, `${JSON.stringify(row)}\n`);
}

/** `scenario(name, injected, fn)` for one theme (a test file): a test that also reports a row. */
export function scenarios(theme: string) {
  return (name: string, injected: string, fn: () => Promise<Outcome>, timeoutMs = 90_000) =>
    test(name, { timeout: timeoutMs }, async () => {
      const started = performance.now();
      const row: ScenarioRow = { theme, scenario: name, injected, runs: 0, result: '', seconds: 0 };
      try {
        const outcome = await fn();
        row.runs = outcome.runs;
        row.result = outcome.note ? `pass: ${outcome.note}` : 'pass';
      } catch (err) {
        row.result = `FAIL: ${String((err as Error).message ?? err).split('\n')[0]}`;
        throw err;
      } finally {
        row.seconds = Math.round((performance.now() - started) / 100) / 10;
        await recordRow(row);
      }
    });
}

// ---------------------------------------------------------------------------------------------
// The world a scenario runs in: an emulator over HTTP, an artifact home, a client library.

/** Fast enough for a suite, slow enough that a batch is visibly in progress for a while. */
export const TIMING = { validatingMs: 20, perRequestMs: 2, finalizingMs: 20, cancellingMs: 20 };

export interface World {
  emulator: Emulator;
  home: string;
  store: LocalArtifactStore;
  nightshift: Nightshift;
  taskQueue: string;
  client: Client;
  close(): Promise<void>;
}

export async function startWorld(
  client: Client,
  taskQueue: string,
  emulatorOptions: EmulatorOptions = {},
): Promise<World> {
  const home = await mkdtemp(join(tmpdir(), 'nightshift-reliability-'));
  const emulator = await startEmulator({ timing: TIMING, ...emulatorOptions });
  const store = new LocalArtifactStore(home);
  return {
    emulator,
    home,
    store,
    client,
    taskQueue,
    nightshift: new Nightshift(client, taskQueue, store),
    close: () => emulator.close(),
  };
}

export async function writeLines(dir: string, name: string, lines: string[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

export const idsOf = (lines: string[]) => lines.map((l) => (JSON.parse(l) as Custom).custom_id);
interface Custom {
  custom_id: string;
}

export async function resultsOf(nightshift: Nightshift, runId: string): Promise<ResultLine[]> {
  const out: ResultLine[] = [];
  for await (const line of nightshift.run(runId).results()) out.push(line);
  return out;
}

export function countStatuses(results: ResultLine[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------------------------------------
// The invariants every scenario checks: nothing lost, nothing paid twice.

/**
 * One result line per input line in input order; at most one provider batch per run, part,
 * attempt and try; no request submitted more often than the attempts its result line reports.
 * The emulator counts submissions per custom_id across runs: a scenario that reuses ids passes
 * the counts from before its run in `earlier`.
 */
export function assertRunIntegrity(
  stats: EmulatorStats,
  runId: string,
  ids: string[],
  results: ResultLine[],
  earlier: Record<string, number> = {},
): void {
  assert.deepEqual(
    results.map((r) => r.custom_id),
    ids,
    `${runId}: exactly one result line per input line, in input order`,
  );
  const perKey = new Map<string, number>();
  for (const b of stats.batches) {
    const m = b.metadata ?? {};
    if (m.nightshift_run !== runId) continue;
    const key = `${m.nightshift_part}/${m.nightshift_attempt}/${m.nightshift_try}`;
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
  }
  for (const [key, n] of perKey) assert.equal(n, 1, `${runId}: batch ${key} created ${n}×`);
  for (const r of results) {
    const n = (stats.submissions[r.custom_id] ?? 0) - (earlier[r.custom_id] ?? 0);
    assert.ok(n <= r.attempts, `${r.custom_id} submitted ${n}× over ${r.attempts} attempts`);
  }
}

export function batchesOf(stats: EmulatorStats, runId: string) {
  return stats.batches.filter((b) => b.metadata?.nightshift_run === runId);
}

const RUNNING_AT_PROVIDER = new Set(['validating', 'in_progress', 'finalizing', 'cancelling']);

export function assertNoBatchLeftRunning(stats: EmulatorStats, runId: string): void {
  const running = batchesOf(stats, runId).filter((b) => RUNNING_AT_PROVIDER.has(b.status));
  assert.deepEqual(
    running.map((b) => `${b.id}: ${b.status}`),
    [],
    'no provider batch left running',
  );
}

/** What two runs of the same input must agree on: ids and times of the provider differ. */
export function comparable(results: ResultLine[]) {
  return results.map((r) => {
    const {
      id: _id,
      created: _created,
      ...body
    } = (r.response?.body ?? {}) as Record<string, unknown>;
    return {
      custom_id: r.custom_id,
      status: r.status,
      attempts: r.attempts,
      error: r.error,
      status_code: r.response?.status_code ?? null,
      body,
    };
  });
}

export function faultFired(emulator: Emulator, faultId: string): number {
  return emulator.stats().faults.find((f) => f.id === faultId)?.fired ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Real worker processes.

export interface WorkerSetup {
  temporalAddress: string;
  taskQueue: string;
  home: string;
  emulator: Emulator;
  apiKey?: string;
  args?: string[];
  env?: Record<string, string>;
}

/** The settings of a worker process that serves `world` on the Temporal at `temporalAddress`. */
export function workerSetup(world: World, temporalAddress: string): WorkerSetup {
  return {
    temporalAddress,
    taskQueue: world.taskQueue,
    home: world.home,
    emulator: world.emulator,
  };
}

/** `nightshift worker` as a subprocess, sending batches to the test's emulator. */
export async function startWorkerProcess(setup: WorkerSetup): Promise<CliProcess> {
  const worker = spawnCli(['worker', ...(setup.args ?? [])], {
    TEMPORAL_ADDRESS: setup.temporalAddress,
    NIGHTSHIFT_TASK_QUEUE: setup.taskQueue,
    NIGHTSHIFT_HOME: setup.home,
    OPENAI_BASE_URL: `${setup.emulator.url}/v1`,
    OPENAI_API_KEY: setup.apiKey ?? 'sk-reliability',
    ...setup.env,
  });
  try {
    // Bundling the workflow code takes seconds, more on a busy machine.
    await worker.waitFor(/worker polling task queue/, 90_000);
  } catch (err) {
    worker.child.kill('SIGKILL');
    throw err;
  }
  return worker;
}

/**
 * The run's summary, or a failure as soon as the worker process dies on its own: a crashed
 * worker would otherwise leave the run waiting until the test times out.
 */
export async function untilDone(run: Run, worker: CliProcess): Promise<RunSummary> {
  const crashed = worker.exited.then(({ code, stderr }) => {
    const crash = stderr.split('\n').find((l) => /Error|throw/.test(l)) ?? '';
    throw new Error(`the worker process exited (code ${code}) mid-run: ${crash.trim()}`);
  });
  return Promise.race([run.wait(), crashed]);
}

/** What a reliability file runs its scenarios on; `worker` is replaced when one is restarted. */
export interface Rig {
  env: TestWorkflowEnvironment;
  world: World;
  worker: CliProcess;
}

/**
 * Starts a dev server, a world and a worker process before the file's scenarios, and tears them
 * down after them. The rig's fields are set once the file's `before` hook has run.
 */
export function useRig(
  name: string,
  options: { emulator?: EmulatorOptions; worker?: Partial<WorkerSetup> } = {},
): Rig {
  const rig = {} as Rig;
  before(async () => {
    rig.env = await startDevServer();
    rig.world = await startWorld(rig.env.client, name, options.emulator);
    rig.worker = await startWorkerProcess({
      ...workerSetup(rig.world, rig.env.address),
      ...options.worker,
    });
  });
  after(async () => {
    if (rig.worker) await killHard(rig.worker);
    await rig.world?.close();
    await rig.env?.teardown();
  });
  return rig;
}

/** SIGKILL: no shutdown, no flush, nothing handed back to the server. */
export async function killHard(process: CliProcess) {
  if (process.child.exitCode === null) process.child.kill('SIGKILL');
  return process.exited;
}

/** The run's workflow and its parts' that exist (found without a worker: no queries). */
async function workflowsOfRun(client: Client, runId: string): Promise<string[]> {
  const ids = [runId];
  for (let part = 1; part <= 100; part++) {
    const id = partWorkflowId(runId, part);
    try {
      await client.workflow.getHandle(id).describe();
    } catch {
      break;
    }
    ids.push(id);
  }
  return ids;
}

const STARTED = proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

/**
 * What the server does by itself once a dead worker's timeouts expire, done now: the activity
 * attempts the killed worker had started are failed (Temporal would time them out after the
 * heartbeat timeout, 1 min, or start-to-close, 2 min, then retry them the same way), and the
 * workflows' sticky queues are dropped (else their next task waits out the sticky timeout).
 * NIGHTSHIFT_RELIABILITY_NATURAL_TIMEOUTS=1 skips this and lets the real timeouts run out.
 */
export async function expireDeadWorker(client: Client, runId: string): Promise<number> {
  if (process.env.NIGHTSHIFT_RELIABILITY_NATURAL_TIMEOUTS === '1') return 0;
  let expired = 0;
  for (const workflowId of await workflowsOfRun(client, runId)) {
    const description = await client.workflow.getHandle(workflowId).describe();
    if (description.status.name !== 'RUNNING') continue;
    await client.workflowService.resetStickyTaskQueue({
      namespace: client.options.namespace,
      execution: { workflowId },
    });
    for (const activity of description.raw.pendingActivities ?? []) {
      if (activity.state !== STARTED || !activity.activityId) continue;
      await client.activity.fail(
        { workflowId, activityId: activity.activityId },
        new Error('the worker running this attempt was killed (test)'),
      );
      expired++;
    }
  }
  return expired;
}

/**
 * The pid of a process this test started (a direct child) whose command line contains
 * `marker`: for killing children that a helper spawned without handing out the process.
 */
export async function childPid(marker: string): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Field 4 is the parent pid; the command name (field 2) may hold spaces, so split after it.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(marker)) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`no child process with ${marker} in its command line`);
}

// ---------------------------------------------------------------------------------------------
// Histories for the determinism guard (test/replay.test.ts).

/** Saves the run's histories (see histories.ts) under `name`. */
export function recordHistories(client: Client, name: string, runId: string): Promise<void> {
  return recordRunHistories(client, runId, name);
}

/** Activity attempts past the first across a run's workflows: how often Temporal retried. */
export async function activityRetries(client: Client, runId: string): Promise<number> {
  let retries = 0;
  for (const workflowId of await workflowsOfRun(client, runId)) {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    for (const event of history.events ?? []) {
      const attempt = event.activityTaskStartedEventAttributes?.attempt ?? 1;
      if (attempt > 1) retries += attempt - 1;
    }
  }
  return retries;
}

/** Every history of a run (run and parts) as protobuf bytes, to search for leaked strings. */
export async function historyBytes(client: Client, runId: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const workflowId of await workflowsOfRun(client, runId)) {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    out.push(Buffer.from(proto.temporal.api.history.v1.History.encode(history).finish()));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files.

export interface FileEntry {
  path: string;
  mode: number;
  isDirectory: boolean;
}

export async function filesUnder(dir: string): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    const s = await stat(path);
    out.push({ path, mode: s.mode & 0o777, isDirectory: entry.isDirectory() });
  }
  return out;
}

export async function summaryFile(home: string, runId: string): Promise<RunSummary | null> {
  try {
    return JSON.parse(await readFile(join(home, 'runs', runId, 'summary.json'), 'utf8'));
  } catch {
    return null;
  }
}

export function randomKey(): string {
  return `sk-${randomBytes(24).toString('hex')}`;
}
