import assert from 'node:assert/strict';
import type { ResultLine } from '../../src/client.js';
import type { BatchStat, Emulator, EmulatorStats, FileStat } from '../../src/emulator/index.js';

// The invariants the run tests check: nothing lost, nothing paid twice.

export function batchesOf(stats: EmulatorStats, runId: string): BatchStat[] {
  return stats.batches.filter((b) => b.metadata?.nightshift_run === runId);
}

/**
 * Nothing paid twice: among these provider batches, at most one per run, part, attempt and try
 * (the metadata a batch is created with, and found again by, after a lost answer or a restart).
 */
export function assertNoDuplicateBatches(batches: BatchStat[]): void {
  const perKey = new Map<string, number>();
  for (const b of batches) {
    const m = b.metadata ?? {};
    const key = `${m.nightshift_run}/${m.nightshift_part}/${m.nightshift_attempt}/${m.nightshift_try}`;
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
  }
  for (const [key, n] of perKey) assert.equal(n, 1, `batch ${key} created ${n}×`);
}

/**
 * One result line per input line in input order; no batch of the run created twice; no request
 * submitted more often than the attempts its result line reports. The emulator counts
 * submissions per custom_id across runs: a scenario that reuses ids passes the counts from
 * before its run in `earlier`.
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
  assertNoDuplicateBatches(batchesOf(stats, runId));
  for (const r of results) {
    const n = (stats.submissions[r.custom_id] ?? 0) - (earlier[r.custom_id] ?? 0);
    assert.ok(n <= r.attempts, `${r.custom_id} submitted ${n}× over ${r.attempts} attempts`);
  }
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

/**
 * The files a run made at the provider: its uploads (named `nightshift-<run>-part-…` by
 * artifactNames.uploadFilename, found even when no batch was made from them) and its batches'
 * input, output and error files.
 */
export function providerFilesOf(stats: EmulatorStats, runId: string): FileStat[] {
  const ofBatches = new Set(
    batchesOf(stats, runId).flatMap((b) => [b.input_file_id, b.output_file_id, b.error_file_id]),
  );
  return stats.files.filter(
    (f) => ofBatches.has(f.id) || f.filename.startsWith(`nightshift-${runId}-part-`),
  );
}

/** Nothing left behind: every file the run made at the provider is deleted. */
export function assertNoProviderFilesLeft(stats: EmulatorStats, runId: string): void {
  const left = providerFilesOf(stats, runId).filter((f) => !f.deleted);
  assert.deepEqual(
    left.map((f) => `${f.id} (${f.filename})`),
    [],
    `${runId}: no file left at the provider`,
  );
}

export function countStatuses(results: ResultLine[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
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
