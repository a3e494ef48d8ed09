/**
 * A set of strings kept as 64-bit fingerprints in typed arrays, for checking a million custom_ids
 * for duplicates: at most 16 bytes a member (a `Set` of short strings takes about 60), and
 * nothing for the garbage collector to walk. Two different strings share a fingerprint with odds
 * of about n²/2⁶⁴: 5·10⁻⁸ for a million members, 5·10⁻⁶ for ten million.
 */
export class FingerprintSet {
  private high: Uint32Array;
  private low: Uint32Array;
  private count = 0;

  constructor(capacity = 1024) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(capacity * 2, 16)));
    this.high = new Uint32Array(slots);
    this.low = new Uint32Array(slots);
  }

  get size(): number {
    return this.count;
  }

  /** Adds `value`; false when it (or a string with the same fingerprint) is already in. */
  add(value: string): boolean {
    const [high, low] = fingerprint(value);
    if (!this.insert(high, low)) return false;
    this.count += 1;
    // Open addressing stays fast below half full.
    if (this.count * 2 > this.high.length) this.grow();
    return true;
  }

  private insert(high: number, low: number): boolean {
    const mask = this.high.length - 1;
    for (let slot = high & mask; ; slot = (slot + 1) & mask) {
      const h = this.high[slot] as number;
      const l = this.low[slot] as number;
      if (h === 0 && l === 0) {
        this.high[slot] = high;
        this.low[slot] = low;
        return true;
      }
      if (h === high && l === low) return false;
    }
  }

  private grow(): void {
    const { high, low } = this;
    this.high = new Uint32Array(high.length * 2);
    this.low = new Uint32Array(low.length * 2);
    for (let slot = 0; slot < high.length; slot++) {
      const h = high[slot] as number;
      const l = low[slot] as number;
      if (h !== 0 || l !== 0) this.insert(h, l);
    }
  }
}

/** Two independent 32-bit hashes of the UTF-16 code units, never both zero (an empty slot). */
function fingerprint(value: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [mix(a) >>> 0, (mix(b) | 1) >>> 0];
}

/** MurmurHash3's finalizer: every input bit flips each output bit with odds close to one half. */
function mix(h: number): number {
  let x = h;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x;
}
