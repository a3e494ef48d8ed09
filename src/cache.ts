// The cross-run result cache: every succeeded response, stored in the artifact store under a
// key made of what was asked (provider, endpoint, request body), so that asking again costs
// nothing. Workers write entries as they classify; `submit` looks requests up before anything
// is sent. Pure but for the store calls it is handed.
import { createHash } from 'node:crypto';
import type { ProviderName } from '../workflows/provider-names.js';
import type { ArtifactName, ResultLine } from '../workflows/types.js';
import type { ArtifactStore, CacheKey, CacheObjectName } from './artifacts.js';
import { type JsonlWriter, writeLines } from './jsonl.js';

/** What a cache entry holds: the answer, and where it came from. */
export interface CacheEntry {
  key: CacheKey;
  /** The run that paid for it. */
  run_id: string;
  created_at: string;
  /** The result line as that run wrote it (its custom_id is that run's). */
  result: ResultLine;
}

/** One line of a run's `cached.jsonl`: an input line answered from the cache. */
export interface CachedLine {
  /** 1-based input line. */
  line: number;
  result: ResultLine;
}

/** The input line numbers a run's `cached.jsonl` answers, in order. */
export async function* cachedLineNumbers(
  store: ArtifactStore,
  runId: string,
  name: ArtifactName,
): AsyncGenerator<number, void, undefined> {
  for await (const { text } of store.readLines(runId, name)) {
    yield (JSON.parse(text) as CachedLine).line;
  }
}

/** The field a provider's line names its request by; it is no part of what is asked. */
const ID_FIELDS = ['custom_id', 'key'];

/** An object with its keys in order (the object itself when they are): see `canonicalJson`. */
function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.every((k, i) => i === 0 || (keys[i - 1] as string) <= k)) return value;
  const sorted: Record<string, unknown> = {};
  for (const k of keys.sort()) sorted[k] = (value as Record<string, unknown>)[k];
  return sorted;
}

/**
 * JSON with every object's keys in order: one text for one value, however it was written.
 * Serialized natively, objects reordered on the way (twice as fast as building the text here).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, sortedKeys);
}

/**
 * The key of a request line as it is sent to the provider (OpenAI's line with its url and body,
 * or the provider's own line a translator made): its id removed, its keys in order.
 */
export function cacheKeyOf(provider: ProviderName, line: Record<string, unknown>): CacheKey {
  const asked: Record<string, unknown> = {};
  for (const k in line) if (!ID_FIELDS.includes(k)) asked[k] = line[k];
  const hash = createHash('sha256').update(`${provider}\n${canonicalJson(asked)}`);
  return `${provider}/${hash.digest('hex')}` as CacheKey;
}

/** The hash a key names, without its provider: what a pack's keys object records. */
export const hashOfKey = (key: CacheKey) => key.slice(key.indexOf('/') + 1);

/**
 * Whether a repeat of the request is meant to give another answer, so that an old one would not
 * do: sampling above temperature 0 without a seed, or several choices. Reads OpenAI's body,
 * Anthropic's params and Gemini's generation config.
 */
export function asksForVariety(line: Record<string, unknown>): boolean {
  const request = line.request as { generationConfig?: Record<string, unknown> } | undefined;
  const settings = (line.body ?? line.params ?? request?.generationConfig ?? {}) as Record<
    string,
    unknown
  >;
  const { temperature, seed, n, candidateCount } = settings;
  const sampled = typeof temperature === 'number' && temperature > 0 && seed === undefined;
  return (
    sampled ||
    (typeof n === 'number' && n > 1) ||
    (typeof candidateCount === 'number' && candidateCount > 1)
  );
}

/** The entry a line of a pack holds, or null for one that does not parse or is not the key's. */
export function parseCacheEntry(text: string, key: CacheKey): CacheEntry | null {
  try {
    const entry = JSON.parse(text) as CacheEntry;
    return entry.key === key && entry.result?.status === 'succeeded' ? entry : null;
  } catch {
    return null;
  }
}

/** The result line a cached answer gives a request of another run. */
export function cachedResult(entry: CacheEntry, customId: string): ResultLine {
  return {
    ...entry.result,
    custom_id: customId,
    attempts: 0,
    cached: true,
    cached_run_id: entry.run_id,
  };
}

/**
 * The cache is written in packs, one per classified attempt: `<provider>/packs/<id>.jsonl` holds
 * the entries, one a line, and `<provider>/keys/<id>.keys` says where each is (`<sha-256 hex>
 * <offset> <length>`). The keys object is written after its pack: one that exists names a whole
 * pack. Two objects an attempt, not one an answer: a part of 50,000 successes was 50,000 files
 * (6 s a part on a local disk, a PUT each on S3).
 */
export const cacheObjects = {
  pack: (provider: ProviderName, id: string) => `${provider}/packs/${id}.jsonl` as CacheObjectName,
  keys: (provider: ProviderName, id: string) => `${provider}/keys/${id}.keys` as CacheObjectName,
  /** The pack a keys object indexes. */
  packOf: (keys: CacheObjectName) =>
    keys.replace('/keys/', '/packs/').replace(/\.keys$/, '.jsonl') as CacheObjectName,
};

/**
 * Stores the successes of one attempt as they are classified, in one pack. A retried classify
 * writes the same pack again, under the same name.
 */
export class CachePacker {
  private readonly createdAt = new Date().toISOString();
  private readonly keys: string[] = [];

  private constructor(
    private readonly store: ArtifactStore,
    private readonly provider: ProviderName,
    private readonly runId: string,
    private readonly id: string,
    private readonly pack: JsonlWriter,
  ) {}

  /** A packer for the attempt `id` names (unique to it: a run id, a part, an attempt). */
  static async open(
    store: ArtifactStore,
    provider: ProviderName,
    runId: string,
    id: string,
  ): Promise<CachePacker> {
    const pack = await store.cacheWriter(cacheObjects.pack(provider, id));
    return new CachePacker(store, provider, runId, id, pack);
  }

  /** Stores a success: its request line as sent, and its result line's text. */
  async add(requestLine: string, resultText: string): Promise<void> {
    const key = cacheKeyOf(this.provider, JSON.parse(requestLine) as Record<string, unknown>);
    // Spliced rather than parsed and written again: the result line is most of the entry.
    const head = JSON.stringify({ key, run_id: this.runId, created_at: this.createdAt });
    const offset = this.pack.stats.bytes;
    await this.pack.write(`${head.slice(0, -1)},"result":${resultText}}`);
    const length = this.pack.stats.bytes - offset - 1;
    this.keys.push(`${hashOfKey(key)} ${offset} ${length}`);
  }

  /** Writes the pack, then its keys; an attempt with no success writes neither. */
  async commit(): Promise<void> {
    if (this.keys.length === 0) return this.pack.abort();
    await this.pack.commit();
    await writeLines(
      await this.store.cacheWriter(cacheObjects.keys(this.provider, this.id)),
      this.keys,
    );
  }

  async abort(): Promise<void> {
    await this.pack.abort();
  }
}

export interface CacheStats {
  /** Per provider: entries, their bytes, the oldest and newest pack. */
  providers: Record<string, { entries: number; bytes: number; oldest: Date; newest: Date }>;
}

export async function cacheStats(store: ArtifactStore): Promise<CacheStats> {
  const providers: CacheStats['providers'] = {};
  for await (const { name, bytes, modified } of store.cacheObjects()) {
    const [provider = '', kind] = name.split('/');
    if (kind !== 'keys' && kind !== 'packs') continue;
    providers[provider] ??= { entries: 0, bytes: 0, oldest: modified, newest: modified };
    const stats = providers[provider];
    stats.bytes += bytes;
    if (kind === 'keys') stats.entries += await countLines(store, name);
    if (modified < stats.oldest) stats.oldest = modified;
    if (modified > stats.newest) stats.newest = modified;
  }
  return { providers };
}

/**
 * Removes what was written before `cutoff`: packs with their keys (keys first: a pack is never
 * indexed without its entries), a pack a killed writer left without keys, and whatever else is
 * old in the cache. Says how many entries went.
 */
export async function pruneCache(store: ArtifactStore, cutoff: Date): Promise<number> {
  let removed = 0;
  for await (const { name, modified } of store.cacheObjects()) {
    if (modified >= cutoff) continue;
    if (name.split('/')[1] === 'keys') {
      removed += await countLines(store, name);
      await store.removeCacheObject(name);
      await store.removeCacheObject(cacheObjects.packOf(name));
    } else {
      await store.removeCacheObject(name);
    }
  }
  return removed;
}

async function countLines(store: ArtifactStore, name: CacheObjectName): Promise<number> {
  let lines = 0;
  for await (const _ of store.readCacheLines(name)) lines += 1;
  return lines;
}
