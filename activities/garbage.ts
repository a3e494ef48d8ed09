import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null = null;

/**
 * Gives this process a collector for the activities to call, fetched from a fresh context with
 * the flag on only for that moment, so that no other context (the workflows' included) gets a
 * global `gc`. A worker does this when it starts: V8's flags are a process's own business, not
 * something importing the library may change. Without it, collectGarbage does nothing.
 */
export function installCollector(): void {
  if (gc) return;
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
}

/**
 * Growth since the last collection worth a collection of its own: a few ms against this much
 * resident memory. Measured from what the last one left, so a large live heap is not collected
 * over and over.
 */
const WORTH_COLLECTING_BYTES = 64 * 1024 * 1024;
let left = { heapUsed: 0, arrayBuffers: 0 };

/** How often garbage is looked at while transfers run: ~25 MB of buffers per transfer. */
const CHECK_EVERY_MS = 250;

/**
 * Collects now if enough garbage may have piled up to be worth it. Called every few thousand
 * lines by the bulk activities, whose parsing leaves ~1 KB of garbage a line: V8 lets that grow
 * its heap by a few hundred MB before it collects on its own.
 */
export function collectGarbage(): void {
  if (!gc) return;
  const { arrayBuffers, heapUsed } = process.memoryUsage();
  if (
    arrayBuffers - left.arrayBuffers > WORTH_COLLECTING_BYTES ||
    heapUsed - left.heapUsed > WORTH_COLLECTING_BYTES
  ) {
    gc();
    left = process.memoryUsage();
  }
}

let running = 0;
let timer: NodeJS.Timeout | undefined;

/**
 * Runs a transfer while collecting the buffers it goes through. An upload or a download passes
 * its file's size (up to 200 MB) through short-lived 64 KB buffers, which V8 accounts as external
 * memory and collects late: four transfers at once left 200 MB of dead buffers, and the native
 * allocator kept their pages after they were freed. Collected as they pile up, they are reused
 * instead (bench/README.md has the figures).
 */
export async function collectingGarbage<T>(task: () => Promise<T>): Promise<T> {
  if (running++ === 0) timer = setInterval(collectGarbage, CHECK_EVERY_MS);
  try {
    return await task();
  } finally {
    if (--running === 0) clearInterval(timer);
    collectGarbage();
  }
}
