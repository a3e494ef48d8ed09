import { setTimeout as delay } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import { REQUEST_STATUSES } from '../../workflows/request-statuses.js';
import type { RunSummary } from '../../workflows/types.js';
import type { Run } from '../client.js';
import { progressLine } from './progress.js';

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
  // A part whose query missed (its worker restarting) is seen through the run's coarser view
  // for a moment: the count shown stays where it was rather than drop.
  let shown = 0;
  while (!finished) {
    try {
      const progress = await run.progress();
      const { done, text } = progressLine(progress);
      shown = Math.max(shown, done);
      if (bar) {
        if (last === '') bar.start(Math.max(progress.total, 1), shown, { status: text });
        bar.setTotal(Math.max(progress.total, 1));
        bar.update(shown, { status: text });
        last = text;
      } else {
        const line = `${shown}/${progress.total} requests — ${text}`;
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
    `  requests   ${counts.total} total: ` +
      REQUEST_STATUSES
        // Invalid outputs exist only where a schema was asked for: said then, even when none.
        .filter((s) => s !== 'invalid_output' || summary.invalid_outputs_by_attempt)
        .map((s) => `${counts[s] ?? 0} ${s.replace('_', ' ')}`)
        .join(', '),
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
  if (summary.cache?.hits) {
    const { hits, usage: tokens, saved_usd: saved } = summary.cache;
    lines.push(
      `  cache      ${hits} answered by earlier runs, not sent: ${tokens.total_tokens} tokens, ` +
        (saved === null ? 'no price known' : `${usd(saved)} saved`),
    );
  }
  if (summary.deadline) {
    const { at, met, hedges } = summary.deadline;
    lines.push(`  deadline   ${at}: ${met ? 'met' : 'missed'}`);
    for (const h of hedges) lines.push(`             part ${h.part} at ${h.at}: ${h.reason}`);
  }
  if (summary.sync) {
    const {
      requests,
      succeeded,
      cost_usd: syncCost,
      extra_usd: extra,
      rate_limited,
    } = summary.sync;
    lines.push(
      `  sync       ${succeeded}/${requests} answered by the synchronous API` +
        (syncCost === null ? '' : `: ${usd(syncCost)}, ${usd(extra ?? 0)} more than as a batch`) +
        (rate_limited ? `; ${rate_limited} rate-limited answers waited out` : ''),
    );
  }
  const invalid = summary.invalid_outputs_by_attempt;
  if (invalid) {
    const byAttempt = Object.entries(invalid).map(([attempt, n]) => `${n} in attempt ${attempt}`);
    lines.push(`  invalid    outputs that did not match their schema: ${byAttempt.join(', ')}`);
  }
  if (summary.budget) {
    lines.push(`  budget     ${usd(summary.budget.spent_usd)} of ${usd(summary.budget.max_usd)}`);
    for (const stop of summary.budget.stopped) lines.push(`             stopped: ${stop}`);
  }
  return lines.join('\n');
}
