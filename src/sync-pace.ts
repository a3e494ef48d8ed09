// The synchronous pace a deadline plans with, measured: every fallback records how long a
// request took it per slot (429 waits included), kept beside the result cache in the store, so
// the next run's parts of the same provider and model plan with what was seen, not a guess.
import { createHash } from 'node:crypto';
import type { ProviderName } from '../workflows/provider-names.js';
import type { ArtifactStore, CacheKey } from './artifacts.js';

export interface SyncPace {
  /** Seconds a request took per slot: the phase's time × its concurrency ÷ its requests. */
  secondsPerRequest: number;
  requests: number;
  /** ISO time of the measurement. */
  measuredAt: string;
}

/** A key no request line hashes to: the line's hash never starts from this text. */
function paceKey(provider: ProviderName, model: string | null): CacheKey {
  const hash = createHash('sha256')
    .update(`nightshift sync pace\n${model ?? ''}`)
    .digest('hex');
  return `${provider}/${hash}` as CacheKey;
}

export async function readPace(
  store: ArtifactStore,
  provider: ProviderName,
  model: string | null,
): Promise<SyncPace | null> {
  const text = await store.getCached(paceKey(provider, model));
  if (text === null) return null;
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
  await store.putCached(paceKey(provider, model), JSON.stringify(pace));
}
