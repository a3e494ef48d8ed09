import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { benchSize, manyRuns } from '../bench/harness.js';
import { startDevServer } from './helpers/temporal.js';

// The benchmark harness at its smallest size: correctness of both contenders, not speed.

let env: TestWorkflowEnvironment;
let dir: string;
before(async () => {
  env = await startDevServer();
  dir = await mkdtemp(join(tmpdir(), 'nightshift-bench-smoke-'));
});
after(async () => {
  await env?.teardown();
  await rm(dir, { recursive: true, force: true });
});

test('baseline and Nightshift return the same statuses in input order', async () => {
  const r = await benchSize(env, 500, { perRequestMs: 1, pollSeconds: 0.2, dir });
  assert.ok(r.baseline);
  assert.equal(r.baseline.counts.succeeded, 500);
  assert.equal(r.nightshift.counts.succeeded, 500);
  assert.equal(r.nightshift.digest, r.baseline.digest);
  assert.equal(r.nightshift.idsDigest, r.inputDigest, 'results in input order');
  assert.equal(r.baseline.batches, 1);
  assert.equal(r.nightshift.batches, 1);
  assert.ok(r.nightshift.historyEventsPerPart > 0);
  assert.ok(r.throughput.prepareMBps > 0 && r.throughput.mergeMBps > 0);
});

test('several runs at once on one worker all finish in input order', async () => {
  const r = await manyRuns(env, { runs: 5, requestsPerRun: 20, dir });
  assert.deepEqual(r.failures, []);
  assert.ok(r.allCorrect);
});
