import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { EndpointName } from '../src/emulator/index.js';
import type { CompatibleProfile } from '../src/providers/settings.js';
import type { ProviderName } from '../workflows/provider-names.js';
import type { ResultLine } from '../workflows/types.js';
import { recordHistories } from './helpers/histories.js';
import { chatLines } from './helpers/requests.js';
import { Rig, type RigOptions } from './helpers/rig.js';
import { startDevServer } from './helpers/temporal.js';

// Every provider through the whole lifecycle (OpenAI's expiry and per-request errors included), on a real Temporal dev server, against the
// emulator's API for that provider over HTTP, through the provider's official SDK. The input is
// the same OpenAI-format file for all of them.

interface Case {
  /** What the test calls it: the provider, or the OpenAI-compatible server's profile. */
  name: string;
  provider: ProviderName;
  profile?: CompatibleProfile;
  /** Where its creates are counted and faulted in the emulator. */
  create: EndpointName;
}

const CASES: Case[] = [
  { name: 'openai', provider: 'openai', create: 'batches.create' },
  { name: 'azure', provider: 'azure', create: 'batches.create' },
  { name: 'anthropic', provider: 'anthropic', create: 'messages.batches.create' },
  { name: 'gemini', provider: 'gemini', create: 'gemini.batches.create' },
  { name: 'openai-compatible', provider: 'openai-compatible', create: 'batches.create' },
  {
    name: 'together',
    provider: 'openai-compatible',
    profile: 'together',
    create: 'batches.create',
  },
];

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

async function withRig<T>(name: string, fn: (rig: Rig) => Promise<T>, options: RigOptions = {}) {
  const rig = await Rig.start(env, name, options);
  try {
    return await fn(rig);
  } finally {
    await rig.close();
  }
}

const SLOW: RigOptions = {
  emulator: { timing: { validatingMs: 20, perRequestMs: 40, finalizingMs: 20, cancellingMs: 50 } },
};

/** Each provider's results of the same file, to compare them across providers. */
const sequences = new Map<string, [string, string][]>();

for (const { name, provider, profile, create } of CASES) {
  const rigOptions: RigOptions = profile ? { compatibleProfile: profile } : {};

  describe(`provider ${name}`, () => {
    test('several parts, in input order, with output_text and usage', async () => {
      await withRig(
        `${name}-happy`,
        async (rig) => {
          const lines = chatLines(250);
          const run = await rig.submit(lines, {
            id: `${name}-happy`,
            provider,
            maxRequestsPerBatch: 100,
          });
          const summary = await run.wait();
          await recordHistories(rig.client, run.id);
          assert.equal(summary.status, 'completed');
          assert.equal(summary.counts.succeeded, 250);
          assert.equal(summary.batches.length, 3);
          assert.ok(summary.usage.input_tokens > 0 && summary.usage.output_tokens > 0);
          const results = await rig.results(`${name}-happy`);
          assert.deepEqual(
            results.map((r) => r.custom_id),
            lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
          );
          assert.ok(
            results.every((r) => typeof r.output_text === 'string' && r.output_text !== ''),
          );
          sequences.set(
            name,
            results.map((r: ResultLine) => [r.custom_id, r.status]),
          );
          const stats = rig.emulator.stats();
          assert.equal(stats.batches.length, 3, 'one batch per part');
          assert.ok(Object.values(stats.submissions).every((n) => n === 1));
        },
        rigOptions,
      );
    });

    test('an expiry resubmits only the unfinished requests', async () => {
      await withRig(
        `${name}-expiry`,
        async (rig) => {
          rig.emulator.addFault({ kind: 'expire_at_fraction', fraction: 0.6, times: 1 });
          const run = await rig.submit(chatLines(100), { id: `${name}-expiry`, provider });
          const summary = await run.wait();
          await recordHistories(rig.client, run.id);
          assert.equal(summary.status, 'completed');
          assert.equal(summary.counts.succeeded, 100);
          assert.deepEqual(
            summary.batches.map((b) => [b.attempt, b.status]),
            [
              [1, 'expired'],
              [2, 'completed'],
            ],
          );
          const counts = Object.values(rig.emulator.stats().submissions);
          // Gemini keeps no results of an expired batch: all of it goes again.
          const again = name === 'gemini' ? 100 : 40;
          assert.equal(counts.filter((n) => n === 2).length, again, 'the unfinished, again');
          assert.equal(counts.filter((n) => n === 1).length, 100 - again);
          const results = await rig.results(`${name}-expiry`);
          assert.equal(results.filter((r) => r.attempts === 2).length, again);
        },
        rigOptions,
      );
    });

    test('a lost create answer makes no second batch', async () => {
      await withRig(
        `${name}-lost`,
        async (rig) => {
          rig.emulator.addFault({ endpoint: create, kind: 'reset_after', times: 1 });
          const run = await rig.submit(chatLines(60), { id: `${name}-lost`, provider });
          const summary = await run.wait();
          assert.equal(summary.status, 'completed');
          const stats = rig.emulator.stats();
          assert.equal(stats.batches.length, 1, 'the batch the lost answer made is the only one');
          assert.ok(Object.values(stats.submissions).every((n) => n === 1));
          assert.equal(stats.faults.find((f) => f.rule.kind === 'reset_after')?.fired, 1);
        },
        rigOptions,
      );
    });

    test('per-request 500s are resubmitted, 400s are final', async () => {
      await withRig(
        `${name}-lines`,
        async (rig) => {
          rig.emulator.addFault({ kind: 'line_error', statusCode: 500, lineRate: 0.2, times: 1 });
          const retried = await (
            await rig.submit(chatLines(50), { id: `${name}-l500`, provider })
          ).wait();
          assert.equal(retried.counts.succeeded, 50);
          assert.equal(retried.batches.length, 2);
          rig.emulator.addFault({ kind: 'line_error', statusCode: 400, lineRate: 0.2, times: 1 });
          const final = await (
            await rig.submit(chatLines(50), { id: `${name}-l400`, provider })
          ).wait();
          assert.equal(final.status, 'partial');
          assert.equal(final.counts.failed, 10);
          assert.equal(final.batches.length, 1, 'a 400 is not worth another attempt');
          const failed = (await rig.results(`${name}-l400`)).filter((r) => r.status === 'failed');
          assert.ok(failed.every((r) => r.response?.status_code === 400 || r.error?.code));
        },
        rigOptions,
      );
    });

    test('a cancel keeps the finished requests and cancels the rest', async () => {
      await withRig(
        `${name}-cancel`,
        async (rig) => {
          const run = await rig.submit(chatLines(80), { id: `${name}-cancel`, provider });
          await untilSomeDone(rig);
          await run.cancel();
          const summary = await run.wait();
          assert.equal(summary.status, 'cancelled');
          assert.ok(summary.counts.succeeded > 0, 'finished requests are kept');
          assert.ok(summary.counts.cancelled > 0, 'unfinished requests are cancelled');
          assert.equal(summary.counts.succeeded + summary.counts.cancelled, 80);
          assert.equal((await rig.results(`${name}-cancel`)).length, 80);
          assert.ok(rig.emulator.stats().batches.every((b) => b.status === 'cancelled'));
        },
        { ...SLOW, ...rigOptions },
      );
    });
  });
}

test('each provider’s rules refuse what it would refuse, naming the line, before anything is spent', async () => {
  await withRig('rules', async (rig) => {
    const [good = '', other = ''] = chatLines(2);
    const withBody = (line: string, changes: object) => {
      const parsed = JSON.parse(line) as { body: object };
      return JSON.stringify({ ...parsed, body: { ...parsed.body, ...changes } });
    };
    const badId = JSON.stringify({ ...JSON.parse(other), custom_id: 'not/an id' });
    const logprobs = withBody(other, { logprobs: true });
    const refusals: [ProviderName, string[], RegExp][] = [
      ['anthropic', [good, badId], /:2: .*custom_id/],
      ['anthropic', [good, logprobs], /:2: body\.logprobs: not supported by Anthropic/],
      ['gemini', [good, logprobs], /:2: body\.logprobs: not supported by Gemini/],
    ];
    for (const [provider, lines, message] of refusals) {
      await assert.rejects(rig.submit(lines, { provider }), (err: Error) => {
        assert.equal(err.name, 'InvalidInputError');
        assert.match(err.message, message);
        return true;
      });
    }
    await assert.rejects(
      rig.submit([good], { provider: 'openai', maxRequestsPerBatch: 100_000 }),
      /maxRequestsPerBatch 100000 is over openai's limit of 50000/,
    );
    assert.deepEqual(rig.emulator.stats().calls, {}, 'no provider was called');
  });
});

test('the same file gives the same custom_id and status sequence on every provider', () => {
  const [first, ...others] = [...sequences.entries()];
  assert.ok(first && others.length === CASES.length - 1, 'every provider ran the file');
  for (const [name, sequence] of others) assert.deepEqual(sequence, first[1], name);
});

/**
 * Until the emulator has finished some of a batch's requests: what the provider reports meanwhile
 * differs (Anthropic counts every request as processing until the batch ends).
 */
async function untilSomeDone(rig: Rig): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!rig.emulator.stats().batches.some((b) => b.request_counts.completed > 0)) {
    assert.ok(Date.now() < deadline, 'no request finished within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
