import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import type { RunProgress, RunSummary } from '../../workflows/types.js';
import { examples, FINAL_STATUSES, positiveNumber, withNightshift } from './common.js';
import { doneInPart } from './progress.js';

const COLUMNS = ['part', 'phase', 'provider', 'done/total', 'failed', 'attempt', 'batch'];

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`).join('\n');
}

/** `1h 05m`, `12m 30s`, `45s`. */
function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m ${String(s).padStart(2, '0')}s` : `${s}s`;
}

function formatProgress(p: RunProgress): string {
  const head =
    `Run ${p.runId}: ${p.status}${p.cancelRequested ? ' (cancel requested)' : ''} — ` +
    `${p.total} requests${p.cached ? ` (${p.cached} from the cache)` : ''}, ` +
    `${p.endpoint ?? 'endpoint pending'}, model ${p.model ?? 'n/a'}`;
  if (p.parts.length === 0) return head;
  const rows = p.parts.map((part) => {
    return [
      String(part.part),
      part.phase,
      part.stuck
        ? `${part.providerStatus} STUCK ${duration(part.stuck.seconds)}`
        : `${part.providerStatus ?? '-'}${part.hedge ? ' (given up for the deadline)' : ''}`,
      `${doneInPart(part)}/${part.requests}`,
      String(part.phase === 'done' ? part.counts.failed : part.requestCounts.failed),
      String(part.attempt),
      part.batchId ?? '-',
    ];
  });
  return `${head}\n${table([COLUMNS, ...rows])}`;
}

/**
 * The run's own view leaves finished parts without their last batch; summary.json (once the run
 * ended) has it.
 */
function withLastBatches(progress: RunProgress, summary: RunSummary | null): RunProgress {
  if (!summary) return progress;
  const parts = progress.parts.map((part) => {
    const last = summary.batches.filter((b) => b.part === part.part).at(-1);
    if (part.batchId || !last) return part;
    return {
      ...part,
      attempt: last.attempt,
      batchId: last.batch_id,
      providerStatus: last.status,
      requestCounts: last.request_counts,
    };
  });
  return { ...progress, parts };
}

interface StatusFlags {
  json?: boolean;
  watch?: boolean;
  interval: number;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('progress of a run, per part: phase, provider status, request counts, batch ids')
    .argument('<id>', 'run id')
    .option('--json', 'print the progress as JSON (one object per refresh with --watch)')
    .option('--watch', 'refresh until the run ends')
    .option('--interval <seconds>', 'refresh interval for --watch', positiveNumber, 2)
    .addHelpText(
      'after',
      examples('nightshift status run-20250101-120000-abc123', 'nightshift status my-run --watch'),
    )
    .action(async (id: string, flags: StatusFlags) => {
      await withNightshift(async (nightshift) => {
        const run = nightshift.run(id);
        const clear = flags.watch && !flags.json && process.stdout.isTTY;
        let last = '';
        for (;;) {
          const live = await run.progress();
          const finished = FINAL_STATUSES.has(live.status);
          const progress = finished ? withLastBatches(live, await run.summary()) : live;
          const text = flags.json ? JSON.stringify(progress) : formatProgress(progress);
          if (text !== last) {
            if (clear) process.stdout.write('\x1b[2J\x1b[H');
            console.log(text);
            last = text;
          }
          if (!flags.watch || finished) return;
          await delay(flags.interval * 1000);
        }
      });
    });
}
