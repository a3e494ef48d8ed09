import { rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { scanInput } from './input-scan.js';
import { seededRandom } from './random.js';
import { RequestPlan } from './request-plan.js';
import { attachResults, discardResults, writeResults } from './result-writer.js';
import { type BatchError, type BatchRecord, NO_PROGRESS, nowSeconds, type Store } from './store.js';
import type { EmulatorTiming } from './types.js';
import type { BatchEventType, WebhookSender } from './webhooks.js';

export type Timing = Required<EmulatorTiming>;

type WaitOutcome = 'elapsed' | 'deadline' | 'cancelled';

/** Why runs were stopped when the emulator closes: to be resumed, not forgotten. */
const PAUSED = 'paused';

interface Deps {
  store: Store;
  timing: Timing;
  seed: number;
  webhooks: WebhookSender | null;
  enqueuedTokenLimit: number | null;
}

/**
 * Drives each batch through OpenAI's status machine in real (scaled-down) time:
 * validating → in_progress → finalizing → completed, or failed / expired / cancelling →
 * cancelled. Batches run concurrently, each as one async task that mostly sleeps.
 */
export class BatchProcessor {
  private stop = new AbortController();
  private readonly active = new Map<string, { batch: BatchRecord; cancel: () => void }>();
  private readonly running = new Set<Promise<void>>();
  /** Input tokens of batches past validation and not yet done, for the enqueued-token limit. */
  private readonly enqueued = new Map<string, { model: string | null; tokens: number }>();

  constructor(private readonly deps: Deps) {}

  /**
   * Drives a new batch, or resumes one restored from a saved state from its status and
   * progress. Owns `batch.input_path` from here on and removes it when the run ends.
   */
  start(batch: BatchRecord): void {
    const cancelled = new Promise<WaitOutcome>((resolve) => {
      this.active.set(batch.id, { batch, cancel: () => resolve('cancelled') });
    });
    const signal = this.stop.signal;
    const run = this.run(batch, cancelled, signal)
      .catch((err: unknown) => {
        if (!signal.aborted) this.fail(batch, [internalError(err)]);
      })
      .finally(async () => {
        this.active.delete(batch.id);
        this.enqueued.delete(batch.id);
        this.running.delete(run);
        if (signal.reason !== PAUSED) await rm(batch.input_path, { force: true });
      });
    this.running.add(run);
  }

  cancel(batch: BatchRecord): void {
    batch.status = 'cancelling';
    batch.cancelling_at = nowSeconds();
    this.deps.store.changed();
    this.active.get(batch.id)?.cancel();
  }

  /** Stops every run where it is, writing nothing more. */
  async reset(): Promise<void> {
    this.stop.abort();
    this.stop = new AbortController();
    await Promise.all(this.running);
  }

  /**
   * Stops every run for good, keeping what resuming needs: each batch's progress as of now and
   * its input. Runs started later stop at once.
   */
  async pause(): Promise<void> {
    for (const { batch } of this.active.values()) {
      const progress = batch.progress();
      batch.progress = () => progress;
    }
    this.stop.abort(PAUSED);
    await Promise.all(this.running);
  }

  private async run(
    batch: BatchRecord,
    cancelled: Promise<WaitOutcome>,
    signal: AbortSignal,
  ): Promise<void> {
    const { timing, store } = this.deps;
    const wait = (untilMs: number) => this.wait(batch, untilMs, cancelled, signal);
    // Seeded per batch, so a resumed run rebuilds the same plan and writes the same results.
    const random = seededRandom(`${this.deps.seed}:${batch.seq}`);
    const finish = (done: number, status: 'expired' | 'cancelled') =>
      this.finishEarly(batch, plan, done, status, random, signal);
    const from = batch.status;
    const { completed, failed } = batch.progress().request_counts;
    const doneBefore = completed + failed;

    const scan = await scanInput(batch.input_path, batch.endpoint, signal);
    const plan = scan.requests && new RequestPlan(scan.requests, batch.faults, random);
    if (from === 'validating') {
      const validatingMs = timing.validatingMs + (batch.faults.extraValidatingMs ?? 0);
      const validated = await wait(batch.created_ms + validatingMs);
      if (validated === 'cancelled') return finish(0, 'cancelled');
      if (!plan) return this.fail(batch, scan.errors);
      if (validated === 'deadline') return finish(0, 'expired');
      batch.model = plan.requests.model;
      if (this.overTokenLimit(batch, plan)) return this.fail(batch, [tokenLimitError(batch.model)]);
    }
    if (!plan) throw new Error('the input file no longer passes validation');
    if (from === 'cancelling') return finish(doneBefore, 'cancelled');
    // The window kept counting while the emulator was down; the work did not.
    if (from === 'in_progress' && Date.now() >= batch.created_ms + timing.completionWindowMs) {
      return finish(doneBefore, 'expired');
    }
    this.enqueued.set(batch.id, { model: batch.model, tokens: plan.totalInputTokens });

    const n = plan.count;
    if (from !== 'finalizing') {
      const { expireAtFraction, stallAtFraction } = batch.faults;
      const fraction = expireAtFraction ?? stallAtFraction ?? null;
      const stopAfter = fraction !== null && fraction < 1 ? Math.ceil(fraction * n) : n;
      const started = Date.now() - doneBefore * timing.perRequestMs;
      const doneAt = (ms: number) =>
        timing.perRequestMs > 0
          ? Math.min(stopAfter, Math.floor((ms - started) / timing.perRequestMs))
          : stopAfter;
      batch.progress = () => plan.progressAt(doneAt(Date.now()));
      if (from === 'validating') {
        batch.status = 'in_progress';
        batch.in_progress_at = nowSeconds();
        store.countSubmissions(plan.requests.customIds);
      }

      const processed = await wait(started + stopAfter * timing.perRequestMs);
      if (processed === 'cancelled') return finish(doneAt(Date.now()), 'cancelled');
      if (processed === 'deadline') return finish(doneAt(Date.now()), 'expired');
      if (stopAfter < n && expireAtFraction == null) {
        // Stalled: no more progress until a cancel, or the end of the completion window.
        const stalled = await wait(Number.POSITIVE_INFINITY);
        return finish(stopAfter, stalled === 'cancelled' ? 'cancelled' : 'expired');
      }
      if (stopAfter < n) return finish(stopAfter, 'expired');
      batch.status = 'finalizing';
      batch.finalizing_at = nowSeconds();
      store.changed();
    }

    const finalizing = Date.now();
    const final = plan.progressAt(n);
    batch.progress = () => final;
    const files = await writeResults({ store, batch, plan, done: n, random, signal });
    try {
      const finalizingMs = timing.finalizingMs + (batch.faults.extraFinalizingMs ?? 0);
      await delay(Math.max(0, finalizing + finalizingMs - Date.now()), undefined, {
        signal,
      });
    } catch (err) {
      await discardResults(files);
      throw err;
    }
    attachResults(store, batch, files);
    batch.status = 'completed';
    batch.completed_at = nowSeconds();
    store.changed();
    this.notify(batch, 'batch.completed');
  }

  /** Expired or cancelled before all requests were done: partial results are kept. */
  private async finishEarly(
    batch: BatchRecord,
    plan: RequestPlan | null,
    done: number,
    status: 'expired' | 'cancelled',
    random: () => number,
    signal: AbortSignal,
  ): Promise<void> {
    const progress = plan ? plan.progressAt(done) : NO_PROGRESS;
    batch.progress = () => progress;
    if (status === 'cancelled') await delay(this.deps.timing.cancellingMs, undefined, { signal });
    const { store } = this.deps;
    if (plan) {
      const unfinished = status === 'expired' ? 'batch_expired' : 'batch_cancelled';
      const files = await writeResults({ store, batch, plan, done, unfinished, random, signal });
      attachResults(store, batch, files);
    }
    batch.status = status;
    if (status === 'expired') batch.expired_at = nowSeconds();
    else batch.cancelled_at = nowSeconds();
    store.changed();
    this.notify(batch, `batch.${status}`);
  }

  private fail(batch: BatchRecord, errors: BatchError[]): void {
    batch.status = 'failed';
    batch.failed_at = nowSeconds();
    batch.errors = errors;
    this.deps.store.changed();
    this.notify(batch, 'batch.failed');
  }

  /** OpenAI's webhook events; Anthropic sends none for its batches. */
  private notify(batch: BatchRecord, type: BatchEventType): void {
    if (batch.api === undefined) this.deps.webhooks?.send(type, batch.id);
  }

  /** Sleeps until `untilMs`, unless the completion window ends or the batch is cancelled first. */
  private async wait(
    batch: BatchRecord,
    untilMs: number,
    cancelled: Promise<WaitOutcome>,
    signal: AbortSignal,
  ): Promise<WaitOutcome> {
    const deadline = batch.created_ms + this.deps.timing.completionWindowMs;
    const outcome: WaitOutcome = untilMs <= deadline ? 'elapsed' : 'deadline';
    const timer = new AbortController();
    try {
      return await Promise.race([
        delay(Math.max(0, Math.min(untilMs, deadline) - Date.now()), outcome, {
          signal: AbortSignal.any([signal, timer.signal]),
        }),
        cancelled,
      ]);
    } finally {
      timer.abort();
    }
  }

  private overTokenLimit(batch: BatchRecord, plan: RequestPlan): boolean {
    if (batch.faults.tokenLimit) return true;
    const limit = this.deps.enqueuedTokenLimit;
    if (limit === null) return false;
    let tokens = plan.totalInputTokens;
    for (const other of this.enqueued.values()) {
      if (other.model === batch.model) tokens += other.tokens;
    }
    return tokens > limit;
  }
}

function tokenLimitError(model: string | null): BatchError {
  return {
    code: 'token_limit_exceeded',
    message: `Enqueued token limit reached for ${model ?? 'this model'} in organization org-emulator. Please try again once some in_progress batches have been completed.`,
    param: null,
    line: null,
  };
}

function internalError(err: unknown): BatchError {
  const detail = err instanceof Error ? err.message : String(err);
  return {
    code: 'server_error',
    message: `The batch could not be processed: ${detail}`,
    param: null,
    line: null,
  };
}
