import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Client } from '@temporalio/client';
import { onFreePorts } from '../src/dev/ports.js';
import {
  type DevServerOptions,
  type RunningDevServer,
  startTemporalDevServer,
  temporalReachable,
} from '../src/dev/temporal-dev-server.js';
import { connectClient } from '../src/temporal/connection.js';
import { assertRunIntegrity, batchesOf } from './helpers/assertions.js';
import { eventually } from './helpers/cli.js';
import { recordHistories } from './helpers/histories.js';
import { LEDGER_EMULATOR, ledgerScenario } from './helpers/ledger.js';
import { childPid, scenarios } from './helpers/reliability.js';
import { chatLines, idsOf } from './helpers/requests.js';
import { Rig } from './helpers/rig.js';

// The Temporal dev server (SQLite-persistent, as `nightshift dev` runs it) is SIGKILLed mid-run
// and started again on the same file and port; the worker process and the client stay up.

const scenario = scenarios('Temporal server killed (SIGKILL) and restarted');

let serverOptions: DevServerOptions;
let server: RunningDevServer;
let client: Client;
let rig: Rig;

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nightshift-server-'));
  server = await onFreePorts((ports) => {
    // Kept: the restart reuses the file and the ports.
    serverOptions = { dbFile: join(dir, 'temporal.sqlite'), ...ports };
    return startTemporalDevServer(serverOptions);
  });
  client = await connectClient({ address: server.address, namespace: 'default' });
  rig = await Rig.start({ client, address: server.address }, 'reliability-server', {
    worker: 'process',
  });
});
after(async () => {
  await rig?.close();
  await client?.connection.close();
  await server?.stop();
});

scenario(
  'dev server killed mid-run, restarted from its SQLite file',
  'SIGKILL of `temporal server start-dev` while batches run; restart on the same file and port',
  async () => {
    const lines = chatLines(300);
    const run = await rig.submit(lines, { id: 'server-restart', maxRequestsPerBatch: 100 });
    await eventually('batches in progress', () =>
      batchesOf(rig.emulator.stats(), run.id).some(
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
    assert.equal(rig.workerProcess.child.exitCode, null, 'the worker rode out the outage');
    const results = await rig.results(run.id);
    assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(lines), results);
    assert.ok(results.every((r) => r.status === 'succeeded'));
    assert.equal(batchesOf(rig.emulator.stats(), run.id).length, 3);
    await recordHistories(client, run.id);
    return { runs: 1 };
  },
);

scenario(
  'dev server killed while parts wait in the token ledger',
  'SIGKILL of `temporal server start-dev` while two runs queue for an enqueued-token quota',
  async () => {
    const ledgerRig = await Rig.start({ client, address: server.address }, 'reliability-ledger', {
      worker: 'process',
      emulator: LEDGER_EMULATOR,
    });
    try {
      await ledgerScenario(ledgerRig, ['q4', 'q5'], async () => {
        process.kill(await childPid(serverOptions.dbFile), 'SIGKILL');
        await eventually('the server gone', async () =>
          (await temporalReachable(server.address)) ? undefined : true,
        );
        server = await startTemporalDevServer(serverOptions);
      });
    } finally {
      await ledgerRig.close();
    }
    return { runs: 2 };
  },
);
