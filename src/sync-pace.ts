// The synchronous pace a deadline plans with, measured: every fallback records how long a
// request took it per slot (429 waits included), kept beside the result cache in the store, so
// the next run's parts of the same provider and model plan with what was seen, not a guess.
import { createHash } from 'node:crypto';
import type { ProviderName } from '../workflows/provider-names.js';
import type { ArtifactStore, CacheObjectName } from './artifacts.js';
import { writeLines } from './jsonl.js';

export interface SyncPace {
  /** Seconds a request took per slot: the phase's time × its concurrency ÷ its requests. */
  secondsPerRequest: number;
  requests: number;
  /** ISO time of the measurement. */
  measuredAt: string;
}

/** `<provider>/pace/<hash of the model>.json`: a model's name may hold any character. */
function paceObject(provider: ProviderName, model: string | null): CacheObjectName {
  const hash = createHash('sha256')
    .update(model ?? '')
    .digest('hex');
  return `${provider}/pace/${hash}.json` as CacheObjectName;
}

export async function readPace(
  store: ArtifactStore,
  provider: ProviderName,
  model: string | null,
): Promise<SyncPace | null> {
  let text: string | undefined;
  for await (const line of store.readCacheLines(paceObject(provider, model))) text ??= line.text;
  if (text === undefined) return null;
  try {
    const pace = JSON.parse(text) as SyncPace;
    return pace.secondsPerRequest > 0 ? pace : null;
  } catch {
    return null;
  }
}

export async function recordPace(
  store: ArtifactStore,
  provider: ProviderName,
  model: string | null,
  run: { seconds: number; concurrency: number; requests: number },
): Promise<void> {
  if (run.requests === 0) return;
  const pace: SyncPace = {
    secondsPerRequest: (run.seconds * run.concurrency) / run.requests,
    requests: run.requests,
    measuredAt: new Date().toISOString(),
  };
  await writeLines(await store.cacheWriter(paceObject(provider, model)), [JSON.stringify(pace)]);
}
