import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Client } from '@temporalio/client';
import { freePort } from '../src/dev/ports.js';
import {
  type DevServerOptions,
  type RunningDevServer,
  startTemporalDevServer,
  temporalReachable,
} from '../src/dev/temporal-dev-server.js';
import { connectClient } from '../src/temporal/connection.js';
import type { CliProcess } from './helpers/cli.js';
import {
  assertRunIntegrity,
  batchesOf,
  chatLines,
  childPid,
  eventually,
  idsOf,
  killHard,
  recordHistories,
  resultsOf,
  scenarios,
  startWorkerProcess,
  startWorld,
  type World,
  workerSetup,
  writeLines,
} from './helpers/reliability.js';
import { FAST } from './helpers/stack.js';

// The Temporal dev server (SQLite-persistent, as `nightshift dev` runs it) is SIGKILLed mid-run
// and started again on the same file and port; the worker process and the client stay up.

const scenario = scenarios('Temporal server killed (SIGKILL) and restarted');

let serverOptions: DevServerOptions;
let server: RunningDevServer;
let client: Client;
let world: World;
let worker: CliProcess;

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nightshift-server-'));
  serverOptions = {
    dbFile: join(dir, 'temporal.sqlite'),
    port: await freePort(),
    uiPort: await freePort(),
  };
  server = await startTemporalDevServer(serverOptions);
  client = await connectClient({ address: server.address, namespace: 'default' });
  world = await startWorld(client, 'reliability-server');
  worker = await startWorkerProcess(workerSetup(world, server.address));
});
after(async () => {
  if (worker) await killHard(worker);
  await client?.connection.close();
  await server?.stop();
  await world?.close();
});

scenario(
  'dev server killed mid-run, restarted from its SQLite file',
  'SIGKILL of `temporal server start-dev` while batches run; restart on the same file and port',
  async () => {
    const lines = chatLines(300);
    const input = await writeLines(world.home, 'server.jsonl', lines);
    const { run } = await world.nightshift.submit(input, {
      ...FAST,
      id: 'server-restart',
      maxRequestsPerBatch: 100,
    });
    await eventually('batches in progress', () =>
      batchesOf(world.emulator.stats(), run.id).some(
        (b) => b.status === 'in_progress' && b.request_counts.completed > 0,
      )
        ? true
        : undefined,
    );
    process.kill(await childPid(serverOptions.dbFile), 'SIGKILL');
    await eventually('the server gone', async () =>
      (await temporalReachable(server.address)) ? undefined : true,
    );
    server = await startTemporalDevServer(serverOptions);

    const summary = await run.wait();
    assert.equal(summary.status, 'completed');
    assert.equal(worker.child.exitCode, null, 'the worker rode out the outage');
    const results = await resultsOf(world.nightshift, run.id);
    assertRunIntegrity(world.emulator.stats(), run.id, idsOf(lines), results);
    assert.ok(results.every((r) => r.status === 'succeeded'));
    assert.equal(batchesOf(world.emulator.stats(), run.id).length, 3);
    await recordHistories(client, run.id, run.id);
    return { runs: 1 };
  },
);
