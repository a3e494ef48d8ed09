/**
 * xorshift32, seeded: the same numbers for the same seed on every machine and Node version (the
 * bench's inputs, the estimate's sample). Not for anything secret.
 */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}
