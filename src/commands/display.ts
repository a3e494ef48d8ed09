import { setTimeout as delay } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import type { PartProgress, RunProgress, RunSummary } from '../../workflows/types.js';
import type { Run } from '../client.js';

/** Requests of a part with a final answer, or an answer from its running batch. */
function doneInPart(part: PartProgress): number {
  const { succeeded, failed, expired, cancelled } = part.counts;
  const final = succeeded + failed + expired + cancelled;
  const running =
    part.phase === 'done' ? 0 : part.requestCounts.completed + part.requestCounts.failed;
  return Math.min(part.requests, final + running);
}

export function progressLine(progress: RunProgress): { done: number; text: string } {
  const done = progress.parts.reduce((sum, p) => sum + doneInPart(p), 0);
  const phases = new Map<string, number>();
  for (const p of progress.parts) {
    const phase = p.providerStatus && p.phase === 'waiting' ? p.providerStatus : p.phase;
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
  }
  const parts = [...phases].map(([phase, n]) => `${n} ${phase}`).join(', ');
  const cancel = progress.cancelRequested ? ', cancel requested' : '';
  return {
    done,
    text: `${progress.status}${parts ? ` — parts: ${parts}` : ''}${cancel}`,
  };
}

/**
 * Follows a run to its end: a progress bar on a terminal, a line per change otherwise (both on
 * stderr, so stdout stays for results). Returns the summary; throws if the run failed.
 */
export async function followRun(run: Run, intervalMs: number): Promise<RunSummary> {
  let finished = false;
  const result = run.wait().finally(() => {
    finished = true;
  });
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: '{bar} {value}/{total} requests | {status}',
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let last = '';
  while (!finished) {
    try {
      const progress = await run.progress();
      const { done, text } = progressLine(progress);
      if (bar) {
        if (last === '') bar.start(Math.max(progress.total, 1), done, { status: text });
        bar.setTotal(Math.max(progress.total, 1));
        bar.update(done, { status: text });
        last = text;
      } else {
        const line = `${done}/${progress.total} requests — ${text}`;
        if (line !== last) console.error(line);
        last = line;
      }
    } catch {
      // A query can miss while the run starts or a worker restarts; the next poll will tell.
    }
    await Promise.race([delay(intervalMs), settled]);
  }
  bar?.stop();
  return result;
}

const usd = (n: number) => `$${n < 0.01 ? n.toFixed(6) : n.toFixed(4)}`;

/** The summary for people: counts, tokens, the price and what batching saved. */
export function formatSummary(summary: RunSummary): string {
  const { counts, usage, cost_usd: cost } = summary;
  const lines = [
    `Run ${summary.run_id}: ${summary.status} in ${summary.duration_s.toFixed(1)} s`,
    `  requests   ${counts.total} total: ${counts.succeeded} succeeded, ${counts.failed} failed, ` +
      `${counts.expired} expired, ${counts.cancelled} cancelled`,
    `  batches    ${summary.batches.length} (${summary.endpoint}, model ${summary.model ?? 'n/a'})`,
    `  tokens     ${usage.input_tokens} in + ${usage.output_tokens} out = ${usage.total_tokens}`,
  ];
  if (cost) {
    lines.push(
      `  cost       ${usd(cost.batch)} with the Batch API vs ${usd(cost.standard_equivalent)} ` +
        `at the standard price: saved ${usd(cost.saved)}`,
    );
  } else {
    lines.push(`  cost       unknown: no price for model ${summary.model ?? 'n/a'}`);
  }
  if (summary.budget) {
    lines.push(`  budget     ${usd(summary.budget.spent_usd)} of ${usd(summary.budget.max_usd)}`);
    for (const stop of summary.budget.stopped) lines.push(`             stopped: ${stop}`);
  }
  return lines.join('\n');
}
