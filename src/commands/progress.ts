import { REQUEST_STATUSES } from '../../workflows/request-statuses.js';
import type { PartProgress, RunProgress } from '../../workflows/types.js';

/** Requests of a part with a final answer; their number never goes down. */
function finalInPart(part: PartProgress): number {
  // A part of a run started before a status existed has no count for it.
  return REQUEST_STATUSES.reduce((sum, s) => sum + (part.counts[s] ?? 0), 0);
}

/**
 * Requests of a part that are done, a number that only grows: those with a final answer, plus
 * those the provider reports completed in the batch in flight. What waits to be resubmitted is not
 * done, and neither are the batch's failed requests, since classify may resubmit them.
 *
 * The provider's counts are those of the last batch polled, and they outlive its attempt: they
 * stay while the next attempt uploads, creates its batch and polls it once. The batch in flight is
 * the one that was sent exactly what is left; an earlier attempt's batch was sent more, unless
 * none of its requests got a final answer, and then it completed none either.
 */
export function doneInPart(part: PartProgress): number {
  const final = finalInPart(part);
  const left = part.requests - final;
  const inFlight = part.requestCounts.total === left ? part.requestCounts.completed : 0;
  return final + Math.min(inFlight, left);
}

/** What is left in the parts past their first attempt, by attempt: `attempt 2: 515 left`. */
function retries(parts: PartProgress[]): string {
  const left = new Map<number, number>();
  for (const p of parts) {
    if (p.attempt < 2 || p.phase === 'done') continue;
    left.set(p.attempt, (left.get(p.attempt) ?? 0) + p.requests - doneInPart(p));
  }
  return [...left]
    .sort(([a], [b]) => a - b)
    .map(([attempt, n]) => `attempt ${attempt}: ${n} left`)
    .join(', ');
}

/** The run in one line: requests done, and the status, phase and attempt of its parts. */
export function progressLine(progress: RunProgress): { done: number; text: string } {
  const cached = progress.cached ?? 0;
  const done = progress.parts.reduce((sum, p) => sum + doneInPart(p), cached);
  const phases = new Map<string, number>();
  for (const p of progress.parts) {
    const phase = p.providerStatus && p.phase === 'waiting' ? p.providerStatus : p.phase;
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
  }
  const parts = [...phases].map(([phase, n]) => `${n} ${phase}`).join(', ');
  const attempts = retries(progress.parts);
  const cancel = progress.cancelRequested ? ', cancel requested' : '';
  return {
    done,
    text:
      `${progress.status}${cached ? ` — ${cached} from the cache` : ''}` +
      `${parts ? ` — parts: ${parts}` : ''}` +
      `${attempts ? ` — ${attempts}` : ''}${cancel}`,
  };
}
