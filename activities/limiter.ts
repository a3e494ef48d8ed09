/**
 * At most `max` tasks at once in this process; the rest wait their turn in arrival order. For
 * the bulk activities, whose cost is memory and CPU per task rather than waiting: past a few at
 * once, more only hold more buffers without finishing any sooner.
 */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.max) this.running += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The slot goes straight to the next in line, if any.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
