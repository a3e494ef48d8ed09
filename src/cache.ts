// The cross-run result cache: every succeeded response, stored in the artifact store under a
// key made of what was asked (provider, endpoint, request body), so that asking again costs
// nothing. Workers write entries as they classify; `submit` looks requests up before anything
// is sent. Pure but for the store calls it is handed.
import { createHash } from 'node:crypto';
import type { ProviderName } from '../workflows/provider-names.js';
import type { ArtifactName, ResultLine } from '../workflows/types.js';
import type { ArtifactStore, CacheKey } from './artifacts.js';

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

/** JSON with every object's keys in order: one text for one value, however it was written. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The key of a request line as it is sent to the provider (OpenAI's line with its url and body,
 * or the provider's own line a translator made): its id removed, its keys in order.
 */
export function cacheKeyOf(provider: ProviderName, line: Record<string, unknown>): CacheKey {
  const asked = Object.fromEntries(Object.entries(line).filter(([k]) => !ID_FIELDS.includes(k)));
  const hash = createHash('sha256').update(provider).update('\n').update(canonicalJson(asked));
  return `${provider}/${hash.digest('hex')}` as CacheKey;
}

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

/** The entry, or null for one that is missing, unreadable or not the key's (never served). */
export async function readCacheEntry(
  store: ArtifactStore,
  key: CacheKey,
): Promise<CacheEntry | null> {
  const text = await store.getCached(key);
  if (text === null) return null;
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

/** Puts kept in flight at once: enough to hide a store's latency, few enough to hold little. */
const PUTS_IN_FLIGHT = 16;

/**
 * Stores the successes of one attempt as they are classified, a few puts at a time. Putting
 * an entry twice (a retried classify) writes the same answer again.
 */
export class CacheFiller {
  private readonly pending = new Set<Promise<void>>();
  private readonly createdAt = new Date().toISOString();

  constructor(
    private readonly store: ArtifactStore,
    private readonly provider: ProviderName,
    private readonly runId: string,
  ) {}

  /** Stores a success: its request line as sent, and its result line's text. */
  async add(requestLine: string, resultText: string): Promise<void> {
    const key = cacheKeyOf(this.provider, JSON.parse(requestLine) as Record<string, unknown>);
    // Spliced rather than parsed and written again: the result line is most of the entry.
    const head = JSON.stringify({ key, run_id: this.runId, created_at: this.createdAt });
    const put = this.store.putCached(key, `${head.slice(0, -1)},"result":${resultText}}`);
    const task: Promise<void> = put.finally(() => this.pending.delete(task));
    this.pending.add(task);
    if (this.pending.size >= PUTS_IN_FLIGHT) await Promise.race(this.pending);
  }

  /** Waits for every put; the first that failed throws. */
  async flush(): Promise<void> {
    await Promise.all(this.pending);
  }
}

export interface CacheStats {
  /** Per provider: entries, their bytes, the oldest and newest. */
  providers: Record<string, { entries: number; bytes: number; oldest: Date; newest: Date }>;
}

export async function cacheStats(store: ArtifactStore): Promise<CacheStats> {
  const providers: CacheStats['providers'] = {};
  for await (const { key, bytes, modified } of store.cachedEntries()) {
    const provider = key.slice(0, key.indexOf('/'));
    providers[provider] ??= { entries: 0, bytes: 0, oldest: modified, newest: modified };
    const stats = providers[provider];
    stats.entries += 1;
    stats.bytes += bytes;
    if (modified < stats.oldest) stats.oldest = modified;
    if (modified > stats.newest) stats.newest = modified;
  }
  return { providers };
}

/** Removes the entries written before `cutoff`; says how many. */
export async function pruneCache(store: ArtifactStore, cutoff: Date): Promise<number> {
  let removed = 0;
  for await (const { key, modified } of store.cachedEntries()) {
    if (modified >= cutoff) continue;
    await store.removeCached(key);
    removed += 1;
  }
  return removed;
}
