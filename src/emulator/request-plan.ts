import type { BatchFaults } from './faults.js';
import type { ScannedRequests } from './input-scan.js';
import { type Random, shuffle } from './random.js';
import type { Progress } from './store.js';

/**
 * How a validated batch will play out: the (seeded) order in which requests get done, and the
 * HTTP status each ends with. "The first k requests done" then answers every question about a
 * batch stopped part-way (counts, usage, which lines go to which file) in O(1) or one pass.
 */
export class RequestPlan {
  readonly count: number;
  readonly statuses: Uint16Array;
  /** 1 for a successful request whose output is to miss its schema (the invalid_output fault). */
  readonly invalidOutputs: Uint8Array;
  private readonly rank: Uint32Array;
  // Prefix sums over processing order: entry k covers the first k requests done.
  private readonly failedBefore: Uint32Array;
  private readonly inputBefore: Float64Array;
  private readonly outputBefore: Float64Array;

  constructor(
    readonly requests: ScannedRequests,
    { lineError, invalidOutput }: Pick<BatchFaults, 'lineError' | 'invalidOutput'>,
    random: Random,
  ) {
    const n = requests.customIds.length;
    this.count = n;
    this.statuses = Uint16Array.from(requests.statuses);
    this.invalidOutputs = new Uint8Array(n);
    // Injected faults hit requests that would otherwise succeed, so their count is exact.
    const healthyShare = (rate: number) => {
      const healthy = Uint32Array.from(
        Array.from(this.statuses).flatMap((s, i) => (s === 200 ? [i] : [])),
      );
      shuffle(healthy, random);
      return healthy.subarray(0, Math.round(rate * healthy.length));
    };
    if (lineError) {
      for (const i of healthyShare(lineError.lineRate)) this.statuses[i] = lineError.statusCode;
    }
    if (invalidOutput) {
      for (const i of healthyShare(invalidOutput.lineRate)) this.invalidOutputs[i] = 1;
    }
    const order = Uint32Array.from({ length: n }, (_, i) => i);
    shuffle(order, random);
    this.rank = new Uint32Array(n);
    this.failedBefore = new Uint32Array(n + 1);
    this.inputBefore = new Float64Array(n + 1);
    this.outputBefore = new Float64Array(n + 1);
    order.forEach((i, k) => {
      this.rank[i] = k;
      const ok = this.statuses[i] === 200;
      this.failedBefore[k + 1] = (this.failedBefore[k] as number) + (ok ? 0 : 1);
      this.inputBefore[k + 1] =
        (this.inputBefore[k] as number) + (ok ? (requests.inputTokens[i] ?? 0) : 0);
      this.outputBefore[k + 1] =
        (this.outputBefore[k] as number) + (ok ? (requests.outputTokens[i] ?? 0) : 0);
    });
  }

  get totalInputTokens(): number {
    return this.requests.inputTokens.reduce((sum, t) => sum + t, 0);
  }

  /** Whether request `index` is among the first `done` requests processed. */
  isDone(index: number, done: number): boolean {
    return (this.rank[index] as number) < done;
  }

  progressAt(done: number): Progress {
    const k = Math.max(0, Math.min(this.count, done));
    const failed = this.failedBefore[k] as number;
    const input = this.inputBefore[k] as number;
    const output = this.outputBefore[k] as number;
    return {
      request_counts: { total: this.count, completed: k - failed, failed },
      usage: { input_tokens: input, output_tokens: output, total_tokens: input + output },
    };
  }
}
