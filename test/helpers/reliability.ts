import { randomBytes } from 'node:crypto';
import { appendFile, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ActivityNotFoundError, type Client, isGrpcServiceError } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Run } from '../../src/client.js';
import type { RunSummary } from '../../workflows/types.js';
import type { CliProcess } from './cli.js';
import { workflowsOfRun } from './histories.js';

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
// Worker processes killed, Temporal servers restarted.

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

/** gRPC's NOT_FOUND, which the server answers for a workflow execution that has completed. */
const GRPC_NOT_FOUND = 5;
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
    try {
      await client.workflowService.resetStickyTaskQueue({
        namespace: client.options.namespace,
        execution: { workflowId },
      });
    } catch (err) {
      // It completed between describe and reset (a surviving worker ran its last task): it has
      // no sticky queue and no attempts left to expire.
      if (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND) continue;
      throw err;
    }
    for (const activity of description.raw.pendingActivities ?? []) {
      if (activity.state !== STARTED || !activity.activityId) continue;
      try {
        await client.activity.fail(
          { workflowId, activityId: activity.activityId },
          new Error('the worker running this attempt was killed (test)'),
        );
        expired++;
      } catch (err) {
        // A surviving worker finished the attempt between describe and fail: nothing to expire.
        if (!(err instanceof ActivityNotFoundError)) throw err;
      }
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
