import { setTimeout as delay } from 'node:timers/promises';
import { log } from '@temporalio/activity';
import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import { type Providers, providerFor } from '../src/providers/provider.js';
import type { SyncAnswer } from '../src/providers/sync.js';
import { customIdOf } from '../src/requests.js';
import { recordPace } from '../src/sync-pace.js';
import { failures } from '../workflows/contract.js';
import type { ProviderName } from '../workflows/provider-names.js';
import type { SyncInput, SyncResult } from '../workflows/types.js';
import { currentContext } from './heartbeat.js';
import { Limiter } from './limiter.js';

/**
 * Lines sent between two checkpoints: a chunk's answers are stored before the heartbeat that
 * says so, and a retried activity resumes after the last chunk stored, so a worker lost midway
 * pays again for at most one chunk.
 */
const CHUNK_LINES = 200;
/** Tries of a request the server failed (5xx) or never answered, before its failure stands. */
const SERVER_ERROR_TRIES = 3;

/**
 * Until when every synchronous request of this process to a provider holds off: the last 429's
 * `retry-after`, or the reset of a rate-limit window whose requests are spent. Shared by the
 * parts a worker runs, since the provider's limits are the account's, not a part's.
 */
const pausedUntil = new Map<ProviderName, number>();

/**
 * The deadline fallback: sends an attempt's requests through the provider's synchronous API, at
 * most `concurrency` at once and at the pace the provider's rate-limit headers set, and writes
 * the answers as a batch output file (`custom_id`, `response`, `error`), which classify then
 * reads as it reads a batch's.
 */
export async function sendSync(
  providers: Providers,
  store: ArtifactStore,
  input: SyncInput,
): Promise<SyncResult> {
  const provider = providerFor(providers, input.provider);
  const send = (line: string) => provider.sendRequest(line, input.model);
  const started = Date.now();
  const context = currentContext();
  const resumeAt = (context?.info.heartbeatDetails as { chunks?: number } | undefined)?.chunks ?? 0;
  const slots = new Limiter(input.concurrency);
  let rateLimited = 0;
  const sendOne = (line: string) =>
    answerOf(input.provider, line, (l) => slots.run(() => paced(input.provider, () => send(l))), {
      onRateLimited: () => {
        rateLimited += 1;
      },
    });

  let chunks = 0;
  let sent = 0;
  let chunk: string[] = [];
  const flush = async () => {
    if (chunks >= resumeAt) {
      const answers = await Promise.all(chunk.map(sendOne));
      await store.writeAtomic(
        input.runId,
        artifactNames.syncChunk(input.part, input.attempt, chunks),
        answers,
      );
      sent += chunk.length;
    }
    chunks += 1;
    context?.heartbeat({ chunks });
    chunk = [];
  };
  const heartbeat = setInterval(() => context?.heartbeat({ chunks }), 10_000);
  try {
    for await (const line of store.readLines(input.runId, input.requests)) {
      chunk.push(line.text);
      if (chunk.length === CHUNK_LINES) await flush();
    }
    if (chunk.length > 0) await flush();
  } finally {
    clearInterval(heartbeat);
  }
  const output = await joinChunks(store, input, chunks);
  const seconds = (Date.now() - started) / 1000;
  // A resumed activity measured only its own share.
  if (resumeAt === 0) {
    await recordPace(store, input.provider, input.model, {
      seconds,
      concurrency: Math.min(input.concurrency, sent),
      requests: sent,
    });
  }
  log.info('sync fallback done', { sent, rate_limited: rateLimited, seconds });
  return { output, sent, rateLimited, seconds };
}

/** Holds the call until the provider's pause has passed. */
async function paced<T>(provider: ProviderName, call: () => Promise<T>): Promise<T> {
  for (;;) {
    const waitMs = (pausedUntil.get(provider) ?? 0) - Date.now();
    if (waitMs <= 0) return call();
    await delay(waitMs);
  }
}

/**
 * One request's answer line: sent again after a 429 (the rate limit heals; the pause is
 * honoured first) and, a few times, after a 5xx or no answer at all; what else it answers
 * stands, as a batch's line would.
 */
async function answerOf(
  provider: ProviderName,
  line: string,
  send: (line: string) => Promise<SyncAnswer>,
  { onRateLimited }: { onRateLimited: () => void },
): Promise<string> {
  const custom_id = customIdOf(line);
  for (let tries = 1; ; tries++) {
    let answer: SyncAnswer;
    try {
      answer = await send(line);
    } catch (err) {
      if (tries >= SERVER_ERROR_TRIES) {
        throw failures.ProviderUnavailable(`sync ${custom_id}: ${(err as Error).message}`);
      }
      await delay(1000 * 2 ** tries);
      continue;
    }
    if (answer.pauseMs !== null) {
      const until = Date.now() + answer.pauseMs;
      pausedUntil.set(provider, Math.max(pausedUntil.get(provider) ?? 0, until));
    }
    if (answer.statusCode === 429) {
      onRateLimited();
      continue;
    }
    if (answer.statusCode >= 500 && tries < SERVER_ERROR_TRIES) {
      await delay(1000 * 2 ** tries);
      continue;
    }
    return JSON.stringify({
      custom_id,
      response: {
        status_code: answer.statusCode,
        request_id: answer.requestId,
        body: answer.body,
      },
      error: null,
    });
  }
}

/** The chunks' answers as one output file, in the order the requests were read. */
async function joinChunks(
  store: ArtifactStore,
  input: SyncInput,
  chunks: number,
): Promise<SyncResult['output']> {
  const output = artifactNames.syncOutput(input.part, input.attempt);
  const writer = await store.writer(input.runId, output);
  try {
    for (let i = 0; i < chunks; i++) {
      const name = artifactNames.syncChunk(input.part, input.attempt, i);
      for await (const line of store.readLines(input.runId, name)) await writer.write(line.text);
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  // The chunks stay (with the run's other files) for a retry whose answer was lost to join again.
  await writer.commit();
  return output;
}
