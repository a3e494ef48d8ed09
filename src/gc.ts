import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { RunSummary } from '../workflows/types.js';
import { type ArtifactStore, artifactNames } from './artifacts.js';

export interface GcReport {
  removed: string[];
  /** Runs left alone, with why. */
  kept: { runId: string; why: string }[];
}

/**
 * Removes the artifacts of every run that ended before `cutoff`, never those of a run still
 * open. When it ended is Temporal's word (the run workflow's close time), or, for a run past
 * Temporal's retention, its summary's `finished_at`; a run known to neither is kept.
 */
export async function collectRuns(
  temporal: Client,
  store: ArtifactStore,
  cutoff: Date,
): Promise<GcReport> {
  const report: GcReport = { removed: [], kept: [] };
  for await (const runId of store.runs()) {
    const ended = await endOf(temporal, store, runId);
    if (typeof ended === 'string') {
      report.kept.push({ runId, why: ended });
    } else if (ended >= cutoff) {
      report.kept.push({ runId, why: `ended ${ended.toISOString()}` });
    } else {
      await store.removeRun(runId);
      report.removed.push(runId);
    }
  }
  return report;
}

/** When the run ended, or why that is not known. */
async function endOf(
  temporal: Client,
  store: ArtifactStore,
  runId: string,
): Promise<Date | string> {
  try {
    const { status, closeTime } = await temporal.workflow.getHandle(runId).describe();
    return status.name === 'RUNNING' || !closeTime ? 'open' : closeTime;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  const summary = await store.readJson<RunSummary>(runId, artifactNames.summary);
  return summary ? new Date(summary.finished_at) : 'unknown to Temporal and unfinished';
}

const UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000 };

/** How often `worker --gc-older-than` collects. */
const COLLECT_EVERY_MS = 60 * 60_000;

/**
 * `nightshift worker --gc-older-than`: collects at once, then every hour, until the returned
 * function is called. Several workers doing it only remove the same runs; a pass that fails is
 * reported and the next one tried.
 */
export function collectEveryHour(
  temporal: Client,
  store: ArtifactStore,
  ageMs: number,
  log: (line: string) => void,
): () => void {
  const pass = () =>
    collectRuns(temporal, store, new Date(Date.now() - ageMs)).then(
      ({ removed, kept }) => log(`gc: ${removed.length} runs removed, ${kept.length} kept`),
      (err: unknown) => log(`gc failed, next try in an hour: ${(err as Error).message}`),
    );
  void pass();
  const timer = setInterval(pass, COLLECT_EVERY_MS);
  return () => clearInterval(timer);
}

/** `30d`, `12h`, `90m` in milliseconds, or null when it is none of those. */
export function parseAge(text: string): number | null {
  const match = /^(\d+)([dhm])$/.exec(text.trim());
  return match ? Number(match[1]) * (UNITS[match[2] as string] as number) : null;
}
