import assert from 'node:assert/strict';
import { test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { deadlineOf, durationSeconds } from '../src/deadlines.js';
import { emulatorProviderConfigs } from '../src/dev/emulator.js';
import { budgetFor } from '../src/pricing.js';
import { translateToAnthropic } from '../src/providers/anthropic/translate.js';
import { translateToGemini } from '../src/providers/gemini/translate.js';
import { createProviders } from '../src/providers/registry.js';
import { durationMs, pauseOf } from '../src/providers/sync.js';
import { judgeHedge } from '../workflows/deadline.js';
import type { Deadline, ResultLine } from '../workflows/types.js';
import { recordHistories } from './helpers/histories.js';
import { chatLines } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

const at = (ms: number) => new Date(ms).toISOString();

/** A deadline at t = 100 s, 10 s of margin, 10 requests a second synchronously. */
const DEADLINE: Deadline = {
  at: at(100_000),
  marginSeconds: 10,
  syncConcurrency: 10,
  syncSecondsPerRequest: 1,
};

test('a batch is given up only once the synchronous API would otherwise run out of time', () => {
  // 400 unfinished take 40 s synchronously: the last moment to start is t = 100 - 10 - 40 = 50 s.
  const stalled = { remaining: 400, done: 100, stuck: false, since: { at: 0, done: 100 } };
  assert.deepEqual(judgeHedge(DEADLINE, { ...stalled, now: 20_000 }), {
    hedge: false,
    recheckAt: 50_000,
  });
  const verdict = judgeHedge(DEADLINE, { ...stalled, now: 50_000 });
  assert.equal(verdict.hedge, true);
  assert.match(
    verdict.hedge ? verdict.reason : '',
    /400 requests unfinished and it has made no progress/,
  );

  // At 10 a second since t = 0, the 400 left end at t = 90 s: in time, so it is waited for.
  const pacing = { remaining: 400, done: 500, stuck: false, since: { at: 0, done: 0 } };
  assert.deepEqual(judgeHedge(DEADLINE, { ...pacing, now: 50_000 }), {
    hedge: false,
    recheckAt: null,
  });
  // At 4 a second (200 in 50 s) it would end at t = 150 s: given up at the last moment, not before.
  const slow = { remaining: 400, done: 200, stuck: false, since: { at: 0, done: 0 } };
  assert.equal(judgeHedge(DEADLINE, { ...slow, now: 40_000 }).hedge, false);
  assert.match(
    JSON.stringify(judgeHedge(DEADLINE, { ...slow, now: 50_000 })),
    /at its pace it would end at 1970-01-01T00:02:30/,
  );
  // A stuck batch counts as never ending (stuck validating)…
  const stuck = { remaining: 500, done: 0, stuck: true, since: null };
  assert.equal(judgeHedge(DEADLINE, { ...stuck, now: 39_000 }).hedge, false);
  assert.match(JSON.stringify(judgeHedge(DEADLINE, { ...stuck, now: 40_000 })), /it is stuck/);
  // … but one with every request done (stuck finalizing) has nothing left to send.
  const finalizing = { remaining: 0, done: 500, stuck: true, since: { at: 0, done: 0 } };
  assert.equal(judgeHedge(DEADLINE, { ...finalizing, now: 90_000 }).hedge, false);
});

test('deadlines parse as ISO times or durations, with a margin of a tenth by default', () => {
  const now = new Date('2026-12-03T00:00:00Z');
  assert.deepEqual(deadlineOf('6h', now), {
    at: '2026-12-03T06:00:00.000Z',
    marginSeconds: 2160,
    syncConcurrency: 8,
    syncSecondsPerRequest: 2,
  });
  assert.equal(
    deadlineOf({ at: '2026-12-03T07:00:00Z', marginSeconds: 60 }, now).marginSeconds,
    60,
  );
  assert.throws(() => deadlineOf('2026-12-02T00:00:00Z', now), /has passed/);
  assert.throws(() => deadlineOf('tomorrow', now), /expected an ISO time or a duration/);
  assert.equal(durationSeconds('90s'), 90);
  assert.equal(durationSeconds('1.5h'), 5400);
});

test('rate-limit headers become pauses: a 429 waits its retry-after, a spent window its reset', () => {
  const headers = (h: Record<string, string>) => new Headers(h);
  assert.equal(pauseOf(429, headers({ 'retry-after': '2' })), 2000);
  assert.equal(pauseOf(429, headers({ 'retry-after-ms': '150', 'retry-after': '1' })), 150);
  assert.equal(pauseOf(429, headers({})), 1000);
  assert.equal(pauseOf(200, headers({ 'x-ratelimit-remaining-requests': '3' })), null);
  const spent = { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s' };
  assert.equal(pauseOf(200, headers(spent)), 360_000);
  assert.equal(durationMs('1.5s'), 1500);
  assert.equal(durationMs('20ms'), 20);
});

const rig = useRig('deadline');

test('the emulator answers synchronously, as the official SDKs expect, with rate limits', async () => {
  rig.emulator.configureSync({ requestsPerWindow: 2, windowMs: 60_000 });
  try {
    const openai = new OpenAI({ apiKey: 'test', baseURL: `${rig.emulator.url}/v1`, maxRetries: 0 });
    const chat = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    assert.equal(chat.data.object, 'chat.completion');
    assert.ok(chat.data.choices[0]?.message.content);
    assert.equal(chat.response.headers.get('x-ratelimit-remaining-requests'), '1');
    const embedding = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'x',
    });
    assert.ok(embedding.data[0]?.embedding.length);
    const limited = await openai.responses
      .create({ model: 'gpt-4o-mini', input: 'over the limit' })
      .catch((err: unknown) => err);
    assert.ok(limited instanceof OpenAI.RateLimitError, String(limited));
    assert.ok(Number(limited.headers?.get('retry-after')) > 0);
    assert.equal(rig.emulator.stats().sync.rateLimited, 1);
  } finally {
    rig.emulator.configureSync({});
  }
  const anthropic = new Anthropic({ apiKey: 'test', baseURL: rig.emulator.url, maxRetries: 0 });
  const message = await anthropic.messages.create({
    model: 'claude-3-5-haiku-latest',
    max_tokens: 16,
    messages: [{ role: 'user', content: 'hello' }],
  });
  assert.equal(message.type, 'message');
});

test('every provider sends a part line of its own shape synchronously', async () => {
  const providers = await createProviders(emulatorProviderConfigs(rig.emulator, 0));
  const [line = ''] = chatLines(1, { prefix: 'one' });
  const send = async (name: keyof typeof providers, text: string, model: string) => {
    const provider = providers[name];
    assert.ok(provider, name);
    return provider.sendRequest(text, model);
  };
  for (const name of ['openai', 'azure', 'openai-compatible'] as const) {
    const answer = await send(name, line, 'gpt-4o-mini');
    assert.equal(answer.statusCode, 200, name);
    assert.equal((answer.body as { object?: string }).object, 'chat.completion', name);
  }
  const forAnthropic = translateToAnthropic(JSON.parse(line));
  assert.ok(forAnthropic.ok);
  const message = await send('anthropic', JSON.stringify(forAnthropic.line), 'claude-sonnet-4-5');
  assert.equal(message.statusCode, 200);
  assert.equal((message.body as { type?: string }).type, 'message');
  const forGemini = translateToGemini(JSON.parse(line));
  assert.ok(forGemini.ok);
  const generated = await send('gemini', JSON.stringify(forGemini.line), 'gemini-2.5-flash');
  assert.equal(generated.statusCode, 200);
  const { candidates, usageMetadata } = generated.body as {
    candidates?: { content?: { parts?: { text?: string }[] } }[];
    usageMetadata?: { promptTokenCount?: number };
  };
  assert.ok(candidates?.[0]?.content?.parts?.[0]?.text, 'the REST response, as a batch holds it');
  assert.ok((usageMetadata?.promptTokenCount ?? 0) > 0);

  rig.emulator.configureSync({ requestsPerWindow: 0, windowMs: 2_000 });
  try {
    const limited = await send('openai', line, 'gpt-4o-mini');
    assert.equal(limited.statusCode, 429, 'an error answer is an answer, not a throw');
    assert.ok((limited.pauseMs ?? 0) > 1_000, 'with the pause its retry-after asks for');
    const google = await send('gemini', JSON.stringify(forGemini.line), 'gemini-2.5-flash');
    assert.equal(google.statusCode, 429);
    assert.ok((google.pauseMs ?? 0) > 1_000, "Gemini's RetryInfo, since it sends no headers");
  } finally {
    rig.emulator.configureSync({});
  }
});

/** A run of 20 requests whose batch stalls after 5, with a deadline `seconds` away. */
async function stalledRun(id: string, seconds: number, options: { maxUsd?: number } = {}) {
  rig.emulator.clearFaults();
  rig.emulator.addFault({ kind: 'stall_at_fraction', fraction: 0.25, times: 1 });
  const budget =
    options.maxUsd === undefined ? undefined : budgetFor('gpt-4o-mini', options.maxUsd);
  const run = await rig.submit(chatLines(20, { prefix: id }), {
    id,
    deadline: {
      at: new Date(Date.now() + seconds * 1000),
      // The dev server fires sub-second timers after a second: the margin covers the cancel's poll.
      marginSeconds: 2,
      syncConcurrency: 4,
      syncSecondsPerRequest: 0.2,
    },
    ...(budget ? { budget: { ...budget, usdPerRequest: 1e-5 } } : {}),
  });
  const summary = await run.wait();
  await recordHistories(rig.client, id, `deadline-${id}`);
  const results = await rig.results(id);
  return { summary, results, synced: results.filter((r: ResultLine) => r.via === 'sync') };
}

test('a stalled batch is given up before the deadline and the rest answered synchronously', async () => {
  const before = rig.emulator.stats().sync.served;
  const { summary, results, synced } = await stalledRun('hedged', 7);
  assert.equal(summary.status, 'completed');
  assert.equal(results.length, 20);
  assert.ok(results.every((r) => r.status === 'succeeded'));
  assert.equal(synced.length, 15, 'the 15 the batch never ran went synchronously');
  assert.ok(synced.every((r) => r.batch_id === null && r.attempts === 2 && r.output_text));
  assert.equal(rig.emulator.stats().sync.served - before, 15, 'each sent once');
  assert.equal(summary.deadline?.met, true);
  assert.ok(Date.parse(summary.finished_at) <= Date.parse(summary.deadline?.at ?? ''));
  assert.equal(summary.deadline?.hedges.length, 1);
  assert.match(
    summary.deadline?.hedges[0]?.reason ?? '',
    /15 requests unfinished.*~1 s \(planned pace\)/,
    'the first fallback plans at 0.2 s a request, 4 at once',
  );
  assert.equal(summary.sync?.requests, 15);
  assert.equal(summary.sync?.succeeded, 15);
  assert.ok((summary.sync?.cost_usd ?? 0) > 0, 'priced at the standard price');
  assert.ok((summary.sync?.extra_usd ?? 0) > 0);
  assert.equal(summary.batches[0]?.status, 'cancelled', 'the stalled batch was cancelled');
  assert.equal(summary.counts.succeeded, 20);
});

test('a fallback the budget cannot pay is not made: the run ends partial and says why', async () => {
  const before = rig.emulator.stats().sync.served;
  const { summary, synced } = await stalledRun('unpaid', 6, { maxUsd: 0.0001 });
  assert.equal(summary.status, 'partial');
  assert.equal(synced.length, 0);
  assert.equal(rig.emulator.stats().sync.served, before, 'nothing was sent synchronously');
  assert.equal(summary.counts.succeeded, 5);
  assert.equal(summary.counts.cancelled, 15);
  assert.match(
    summary.budget?.stopped.join('\n') ?? '',
    /part 1: sending its 15 leftovers synchronously after attempt 1 would cost ~\$0\.000\d+/,
  );
  assert.equal(summary.sync, undefined);
});

test('429s during the fallback are waited out, never ignored', async () => {
  // Four in flight against two a window: some are bound to meet the limit.
  rig.emulator.configureSync({ requestsPerWindow: 2, windowMs: 400 });
  try {
    const before = rig.emulator.stats().sync;
    const { summary, synced } = await stalledRun('limited', 9);
    const after = rig.emulator.stats().sync;
    assert.equal(summary.status, 'completed');
    assert.equal(synced.length, 15);
    assert.ok(after.rateLimited > before.rateLimited, 'the limit was met');
    assert.equal(after.ignoredRetryAfter, before.ignoredRetryAfter, 'no request came too early');
    assert.equal(summary.sync?.rate_limited, after.rateLimited - before.rateLimited);
  } finally {
    rig.emulator.configureSync({});
  }
});

test('a batch stuck in validating counts towards the deadline: given up, all sent synchronously', async () => {
  rig.emulator.clearFaults();
  rig.emulator.addFault({ kind: 'stuck_validating', delayMs: 60_000, times: 1 });
  const before = rig.emulator.stats().sync.served;
  const run = await rig.submit(chatLines(10, { prefix: 'stuck-deadline' }), {
    id: 'stuck-deadline',
    stuckAfterSeconds: { validating: 1 },
    // The dev server fires sub-second timers after a second: the margin covers the cancel's poll.
    deadline: { at: new Date(Date.now() + 6_000), marginSeconds: 2, syncSecondsPerRequest: 0.1 },
  });
  const summary = await run.wait();
  assert.equal(summary.status, 'completed');
  assert.equal(summary.sync?.succeeded, 10);
  assert.equal(rig.emulator.stats().sync.served - before, 10);
  assert.equal(summary.batches[0]?.status, 'cancelled');
  assert.match(
    summary.deadline?.hedges[0]?.reason ?? '',
    /10 requests unfinished and it is stuck.*\(measured pace\)/,
    'later ones plan with the pace the earlier fallbacks measured',
  );
  assert.equal(summary.deadline?.met, true);
});

test('a Gemini run falls back to generateContent for its deadline', async () => {
  rig.emulator.clearFaults();
  rig.emulator.addFault({ kind: 'stall_at_fraction', fraction: 0.5, times: 1 });
  const run = await rig.submit(chatLines(10, { prefix: 'gem', model: 'gemini-2.5-flash' }), {
    id: 'gemini-hedged',
    provider: 'gemini',
    deadline: { at: new Date(Date.now() + 7_000), marginSeconds: 2, syncSecondsPerRequest: 0.1 },
  });
  const summary = await run.wait();
  assert.equal(summary.status, 'completed');
  assert.equal(summary.sync?.succeeded, 5);
  const synced = (await rig.results('gemini-hedged')).filter((r) => r.via === 'sync');
  assert.equal(synced.length, 5);
  assert.ok(
    synced.every((r) => r.output_text),
    'output_text from the REST response',
  );
});
