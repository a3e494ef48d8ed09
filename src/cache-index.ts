// Where each answer of the result cache lies, for `submit` to look requests up: every keys
// object of a provider read once into typed arrays (about 40 bytes an entry), so that a request
// not in the cache costs a binary search and no store call, and one that is costs one ranged
// read of its pack.
import type { ProviderName } from '../workflows/provider-names.js';
import type { ArtifactStore, CacheKey, CacheObjectName } from './artifacts.js';
import { type CacheEntry, cacheObjects, hashOfKey, parseCacheEntry } from './cache.js';

/** The first 32 bits of a key's hash: what the index sorts and searches by. */
const prefixOf = (hash: string) => Number.parseInt(hash.slice(0, 8), 16);

export class CacheIndex {
  private constructor(
    private readonly store: ArtifactStore,
    /** Per entry, by ordinal: its pack (an index into `packs`), offset and length. */
    private readonly packs: CacheObjectName[],
    private readonly packOf: number[],
    private readonly offsets: number[],
    private readonly lengths: number[],
    /** `prefix << 32 | ordinal`, sorted: the entries of a prefix lie together. */
    private readonly sorted: BigUint64Array,
  ) {}

  /** The index of every pack of `provider` whose keys are written (a whole pack). */
  static async load(store: ArtifactStore, provider: ProviderName): Promise<CacheIndex> {
    const packs: CacheObjectName[] = [];
    const packOf: number[] = [];
    const offsets: number[] = [];
    const lengths: number[] = [];
    const prefixes: number[] = [];
    for await (const { name } of store.cacheObjects(`${provider}/keys/`)) {
      if (!name.endsWith('.keys')) continue;
      const pack = packs.push(cacheObjects.packOf(name)) - 1;
      for await (const { text } of store.readCacheLines(name)) {
        const [hash = '', offset, length] = text.split(' ');
        prefixes.push(prefixOf(hash));
        packOf.push(pack);
        offsets.push(Number(offset));
        lengths.push(Number(length));
      }
    }
    const sorted = new BigUint64Array(prefixes.length);
    for (const [ordinal, prefix] of prefixes.entries()) {
      sorted[ordinal] = (BigInt(prefix) << 32n) | BigInt(ordinal);
    }
    sorted.sort();
    return new CacheIndex(store, packs, packOf, offsets, lengths, sorted);
  }

  /** Entries indexed. */
  get size(): number {
    return this.sorted.length;
  }

  /**
   * The entry of `key`, or null: none indexed, or none that reads back whole as the key's (a
   * pack pruned since, a line torn by hand).
   */
  async get(key: CacheKey): Promise<CacheEntry | null> {
    const prefix = BigInt(prefixOf(hashOfKey(key)));
    for (let i = this.lowerBound(prefix << 32n); i < this.sorted.length; i++) {
      const found = this.sorted[i] as bigint;
      if (found >> 32n !== prefix) break;
      const ordinal = Number(found & 0xffffffffn);
      const pack = this.packs[this.packOf[ordinal] as number] as CacheObjectName;
      const text = await this.store.readCacheRange(
        pack,
        this.offsets[ordinal] as number,
        this.lengths[ordinal] as number,
      );
      const entry = text === null ? null : parseCacheEntry(text, key);
      if (entry) return entry;
    }
    return null;
  }

  /** The first position whose value is not below `value`. */
  private lowerBound(value: bigint): number {
    let low = 0;
    let high = this.sorted.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.sorted[mid] as bigint) < value) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
