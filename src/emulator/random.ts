import { randomBytes } from 'node:crypto';

export type Random = () => number;

/** FNV-1a: a stable 32-bit hash, so derived numbers are the same on every run and machine. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: small, fast and good enough for shuffles and fault rates. */
export function seededRandom(seed: number | string): Random {
  let state = typeof seed === 'string' ? hash32(seed) : seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Indexed<T> {
  length: number;
  [index: number]: T;
}

/** Fisher–Yates. */
export function shuffle<T>(items: Indexed<T>, random: Random): void {
  for (let i = items.length - 1; i > 0; i--) {
    swap(items, i, Math.floor(random() * (i + 1)));
  }
}

/** Sattolo's variant: a random cycle, so for two or more items no item keeps its place. */
export function derange<T>(items: Indexed<T>, random: Random): void {
  for (let i = items.length - 1; i > 0; i--) {
    swap(items, i, Math.floor(random() * i));
  }
}

function swap<T>(items: Indexed<T>, i: number, j: number): void {
  const a = items[i] as T;
  items[i] = items[j] as T;
  items[j] = a;
}

/**
 * Random bytes drawn a pool at a time: one call per id cost 2.3 s of the emulator's CPU for
 * 200,000 result lines (each line has two ids), in the benchmark's profile.
 */
const POOL_BYTES = 64 * 1024;
let pool = randomBytes(POOL_BYTES);
let used = 0;

export function randomId(prefix: string, bytes = 16): string {
  if (used + bytes > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  used += bytes;
  return prefix + pool.toString('hex', used - bytes, used);
}
