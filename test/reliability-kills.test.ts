import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CacheKey } from '../src/artifacts.js';
import { CacheIndex } from '../src/cache-index.js';
import type { SubmitOptions } from '../src/client.js';
import type { FaultRule } from '../src/emulator/index.js';
import { LocalArtifactStore } from '../src/store/local.js';
import {
  assertNoProviderFilesLeft,
  assertRunIntegrity,
  batchesOf,
  comparable,
  faultFired,
  providerFilesOf,
} from './helpers/assertions.js';
import { eventually } from './helpers/cli.js';
import { recordHistories } from './helpers/histories.js';
import { expireDeadWorker, scenarios, summaryFile } from './helpers/reliability.js';
import { chatLines, idsOf } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// The real `nightshift worker` process is SIGKILLed at each step of a run in turn and a new one
// takes over. The moment is found from the emulator (a `slow` fault that has fired means the
// call is in flight right now) or from the file system, never by sleeping.

const scenario = scenarios('worker process killed (SIGKILL) and replaced');

const rig = useRig('reliability-kills', { worker: 'process' });

const LINES = chatLines(200);
let baseline: ReturnType<typeof comparable> | undefined;

/** Submission counts before the current scenario's run: every scenario reuses the same ids. */
let earlier: Record<string, number> = {};

/** Starts a run with the scenario's faults in place before it can reach the provider. */
async function submit(
  runId: string,
  lines = LINES,
  options: SubmitOptions = {},
  faults: FaultRule[] = [],
) {
  rig.emulator.clearFaults();
  const faultIds = faults.map((rule) => rig.emulator.addFault(rule));
  earlier = { ...rig.emulator.stats().submissions };
  const run = await rig.submit(lines, { id: runId, ...options });
  return Object.assign(run, { faultIds });
}

async function killAndReplace(runId: string): Promise<void> {
  await rig.stopWorker();
  await expireDeadWorker(rig.client, runId);
  await rig.startWorker();
}

/** The run finishes with exactly the results of the uninterrupted one. */
async function finishLikeBaseline(run: Awaited<ReturnType<typeof submit>>, lines = LINES) {
  const summary = await run.wait();
  await recordHistories(rig.client, run.id);
  assert.equal(summary.status, 'completed');
  const results = await rig.results(run.id);
  assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(lines), results, earlier);
  assert.ok(baseline, 'the uninterrupted run ran first');
  assert.deepEqual(comparable(results).slice(0, baseline.length), baseline);
  assert.ok(results.every((r) => r.status === 'succeeded' && r.attempts === 1));
  return results;
}

scenario('uninterrupted run (the reference)', 'nothing', async () => {
  const run = await submit('kill-baseline');
  assert.equal((await run.wait()).status, 'completed');
  const results = await rig.results(run.id);
  assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(LINES), results);
  assertNoProviderFilesLeft(rig.emulator.stats(), run.id);
  baseline = comparable(results);
  return { runs: 1 };
});

/** Kills the worker while the call a one-off `slow` fault holds is in flight. */
async function killDuringSlowCall(runId: string, rule: Omit<FaultRule, 'kind'>) {
  const run = await submit(runId, LINES, {}, [{ ...rule, kind: 'slow', delayMs: 3_000, times: 1 }]);
  await eventually(`${rule.endpoint} in flight`, () =>
    faultFired(rig.emulator, run.faultIds[0] ?? '') > 0 ? true : undefined,
  );
  const stats = rig.emulator.stats();
  const before = batchesOf(stats, runId);
  await killAndReplace(runId);
  await finishLikeBaseline(run);
  return { run, before, filesBefore: providerFilesOf(stats, runId) };
}

scenario(
  'killed during upload',
  'slow files.create (3 s), SIGKILL while it is in flight',
  async () => {
    const { before } = await killDuringSlowCall('kill-upload', { endpoint: 'files.create' });
    assert.equal(before.length, 0, 'killed before any batch existed');
    return { runs: 1 };
  },
);

scenario(
  'killed right after create returned',
  'slow first batches.retrieve (3 s), SIGKILL while it is in flight',
  async () => {
    const { run, before } = await killDuringSlowCall('kill-created', {
      endpoint: 'batches.retrieve',
    });
    assert.equal(before.length, 1, 'the batch existed when the worker died');
    assert.equal(batchesOf(rig.emulator.stats(), run.id).length, 1, 'and no second was made');
    return { runs: 1 };
  },
);

scenario(
  'killed while waiting',
  'SIGKILL while the batch is in_progress with some requests done',
  async () => {
    const run = await submit('kill-waiting');
    await eventually('a batch in progress', () =>
      batchesOf(rig.emulator.stats(), run.id).some(
        (b) => b.status === 'in_progress' && b.request_counts.completed > 0,
      )
        ? true
        : undefined,
    );
    await killAndReplace(run.id);
    await finishLikeBaseline(run);
    assert.equal(batchesOf(rig.emulator.stats(), run.id).length, 1);
    return { runs: 1 };
  },
);

/** Anthropic's batches: they carry no metadata to tell runs apart, so scenarios count them. */
const anthropicBatches = () => rig.emulator.stats().batches.filter((b) => b.api === 'anthropic');

/** An Anthropic run finished whole, from one batch more, each request sent once. */
async function finishOnAnthropic(
  run: Awaited<ReturnType<typeof submit>>,
  lines: string[],
  batchesBefore: number,
) {
  const summary = await run.wait();
  await recordHistories(rig.client, run.id);
  assert.equal(summary.status, 'completed');
  assert.equal(summary.counts.succeeded, lines.length);
  assert.equal(anthropicBatches().length, batchesBefore + 1, 'no second batch');
  const { submissions } = rig.emulator.stats();
  assert.ok(
    idsOf(lines).every((id) => submissions[id] === 1),
    'each request sent once',
  );
}

scenario(
  'killed while waiting, on Anthropic',
  'an Anthropic run (batches without metadata): SIGKILL while its batch is in progress',
  async () => {
    const lines = chatLines(200, { prefix: 'ant-wait' });
    const before = anthropicBatches().length;
    const run = await submit('kill-waiting-anthropic', lines, { provider: 'anthropic' });
    await eventually('an Anthropic batch in progress', () =>
      anthropicBatches().some((b) => b.status === 'in_progress' && b.request_counts.completed > 0)
        ? true
        : undefined,
    );
    await killAndReplace(run.id);
    await finishOnAnthropic(run, lines, before);
    return { runs: 1 };
  },
);

scenario(
  'killed while the Anthropic create was in flight',
  'slow messages.batches.create (3 s), SIGKILL while it is in flight: the batch is made, its id never reaches the run',
  async () => {
    const lines = chatLines(100, { prefix: 'ant-create' });
    const before = anthropicBatches().length;
    const run = await submit('kill-create-anthropic', lines, { provider: 'anthropic' }, [
      { endpoint: 'messages.batches.create', kind: 'slow', delayMs: 3_000, times: 1 },
    ]);
    await eventually('the create in flight', () =>
      faultFired(rig.emulator, run.faultIds[0] ?? '') > 0 ? true : undefined,
    );
    await killAndReplace(run.id);
    await finishOnAnthropic(run, lines, before);
    return { runs: 1, note: 'found again by its creation time and request count' };
  },
);

scenario(
  'killed during download',
  'slow files.content (3 s), SIGKILL while it is in flight',
  async () => {
    const { before } = await killDuringSlowCall('kill-download', { endpoint: 'files.content' });
    assert.equal(before[0]?.status, 'completed');
    return { runs: 1 };
  },
);

scenario(
  'killed while deleting the provider files',
  'slow files.delete (3 s), SIGKILL while it is in flight',
  async () => {
    const { run, filesBefore } = await killDuringSlowCall('kill-delete', {
      endpoint: 'files.delete',
    });
    const left = filesBefore.filter((f) => !f.deleted);
    assert.equal(left.length, 2, 'the upload and the output file were there when the worker died');
    // The slowed call still deletes its file after the kill: the new worker finds it gone.
    assertNoProviderFilesLeft(rig.emulator.stats(), run.id);
    assert.equal(batchesOf(rig.emulator.stats(), run.id).length, 1, 'and no second batch');
    return { runs: 1, note: 'the new worker deleted the rest; the one already gone was no error' };
  },
);

scenario(
  'killed during merge',
  '4,000 requests in 4 parts; SIGKILL the moment merge creates its temp results file',
  async () => {
    const lines = chatLines(4_000);
    const runId = 'kill-merge';
    // Merge writes results.jsonl through a temp file in the run folder: its creation is the
    // moment merge has started and cannot have finished (the rename comes after every line).
    const runDir = join(rig.home, 'runs', runId);
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    let killedAt: string | null = null;
    const watcher = watch(runDir, (_event, name) => {
      if (killedAt === null && name?.startsWith('.results.jsonl.')) {
        killedAt = name;
        rig.workerProcess.child.kill('SIGKILL');
      }
    });
    try {
      const run = await submit(runId, lines, { maxRequestsPerBatch: 1_000 });
      await eventually('merge started', () => killedAt ?? undefined, 60_000);
      watcher.close();
      await rig.workerProcess.exited;
      assert.equal(await summaryFile(rig.home, runId), null, 'killed before merge finished');
      await killAndReplace(runId);
      await finishLikeBaseline(run, lines);
      assert.equal(batchesOf(rig.emulator.stats(), run.id).length, 4);
    } finally {
      watcher.close();
    }
    return { runs: 1 };
  },
);

scenario(
  'killed while storing answers in the result cache',
  '2,000 requests, cache on; SIGKILL the moment classify starts its first cache pack',
  async () => {
    // Bodies no other scenario sent (another model), so the cache starts empty for them.
    const lines = chatLines(2_000, { prefix: 'cache', model: 'gpt-4.1-nano' });
    const runId = 'kill-cache';
    // Packs are written through a temp file renamed into place: its creation is the moment the
    // cache is being written.
    const cacheDir = join(rig.home, 'cache');
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    let killedAt: string | null = null;
    const watcher = watch(cacheDir, { recursive: true }, (_event, name) => {
      if (killedAt === null && name?.endsWith('.tmp')) {
        killedAt = name;
        rig.workerProcess.child.kill('SIGKILL');
      }
    });
    try {
      const run = await submit(runId, lines, { cache: true });
      await eventually('a cache entry being written', () => killedAt ?? undefined, 60_000);
      watcher.close();
      await rig.workerProcess.exited;
      // What the killed worker left: whole entries, and temp files that are no entries.
      const store = new LocalArtifactStore(rig.home);
      const index = await CacheIndex.load(store, 'openai');
      let whole = 0;
      for await (const { name } of store.cacheObjects('openai/keys/')) {
        for await (const { text } of store.readCacheLines(name)) {
          const key = `openai/${text.split(' ')[0]}` as CacheKey;
          assert.ok(await index.get(key), `${key} of ${name} reads back whole`);
          whole += 1;
        }
      }
      assert.ok(whole < lines.length, `killed before every entry was written (${whole})`);
      await killAndReplace(runId);
      const summary = await run.wait();
      assert.equal(summary.counts.succeeded, lines.length);
      const first = await rig.results(runId);

      const again = chatLines(2_000, { prefix: 'again', model: 'gpt-4.1-nano' });
      const rerun = await submit('kill-cache-again', again, { cache: true });
      assert.equal((await rerun.wait()).cache?.hits, lines.length, 'every answer, once, whole');
      const second = await rig.results('kill-cache-again');
      assert.deepEqual(
        second.map((r) => r.response),
        first.map((r) => r.response),
      );
      return { runs: 2, note: `${whole} entries were indexed at the kill; none torn` };
    } finally {
      watcher.close();
    }
  },
);
