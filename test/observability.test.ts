import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Nightshift } from '../src/client.js';
import { freePort } from '../src/dev/ports.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { type CliProcess, spawnCli } from './helpers/cli.js';
import { chatLines } from './helpers/requests.js';
import { FAST } from './helpers/rig.js';
import { startDevServer } from './helpers/temporal.js';

let env: TestWorkflowEnvironment;
let worker: CliProcess;
let home: string;
let metricsPort: number;
before(async () => {
  env = await startDevServer();
  home = await mkdtemp(join(tmpdir(), 'nightshift-obs-'));
  metricsPort = await freePort();
  worker = spawnCli(
    ['worker', '--emulator', '--metrics-port', String(metricsPort), '--json-logs'],
    {
      TEMPORAL_ADDRESS: env.address,
      NIGHTSHIFT_HOME: home,
      NIGHTSHIFT_TASK_QUEUE: 'observed',
    },
  );
  await worker.waitFor(/worker polling task queue "observed"/);
});
after(async () => {
  await worker?.stop();
  await env?.teardown();
});

test('a worker serves Prometheus metrics (Temporal’s and Nightshift’s) and logs JSON with ids', async () => {
  const nightshift = new Nightshift(env.client, 'observed', new LocalArtifactStore(home));
  const input = join(home, 'requests.jsonl');
  await writeFile(input, `${chatLines(25).join('\n')}\n`);
  const { run } = await nightshift.submit(input, { ...FAST, id: 'observed-1' });
  const summary = await run.wait();
  assert.equal(summary.counts.succeeded, 25);

  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (pattern: RegExp) => Number(metrics.match(pattern)?.[1] ?? Number.NaN);
  assert.equal(value(/^nightshift_requests\{[^}]*status="succeeded"[^}]*\} (\d+)$/m), 25);
  assert.equal(value(/^nightshift_batches\{[^}]*status="completed"[^}]*\} (\d+)$/m), 1);
  assert.ok(value(/^nightshift_bytes_uploaded\{?[^ ]*\}? (\d+)$/m) > 0);
  assert.ok(value(/^nightshift_bytes_downloaded\{?[^ ]*\}? (\d+)$/m) > 0);
  assert.ok(value(/^nightshift_cost_microusd\{?[^ ]*\}? (\d+)$/m) > 0);
  assert.match(metrics, /^temporal_activity_execution_latency/m, 'the SDK’s own metrics too');

  const logs = worker.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const created = logs.find((l) => l.msg === 'batch created');
  assert.ok(created, 'a JSON log line for the created batch');
  assert.equal(created.run_id, 'observed-1');
  assert.equal(created.part, 1);
  assert.match(String(created.batch_id), /^batch_/);
  assert.equal(created.workflowId, 'observed-1-part-1');
});

test('a worker started without the malloc settings runs with them, in the same process', async () => {
  const environ = await readFile(`/proc/${worker.child.pid}/environ`, 'utf8');
  const settings = environ.split('\0').filter((v) => v.startsWith('MALLOC_'));
  if ('execve' in process) {
    assert.deepEqual(settings.sort(), ['MALLOC_ARENA_MAX=2', 'MALLOC_TRIM_THRESHOLD_=131072']);
    assert.doesNotMatch(worker.stderr, /hint: start workers with/);
  } else {
    // Node 20 cannot start itself over in place: it says what to set.
    assert.deepEqual(settings, []);
    assert.match(worker.stderr, /hint: start workers with MALLOC_ARENA_MAX=2 /);
  }
});
