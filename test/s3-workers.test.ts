import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import proto from '@temporalio/proto';
import type { ResultLine } from '../src/client.js';
import { assertRunIntegrity, batchesOf, comparable, faultFired } from './helpers/assertions.js';
import { type CliProcess, eventually, runCli } from './helpers/cli.js';
import { workflowsOfRun } from './helpers/histories.js';
import { expireDeadWorker } from './helpers/reliability.js';
import { chatLines, idsOf } from './helpers/requests.js';
import { killWorker, TIMING, useRig } from './helpers/rig.js';
import { S3Server, s3Skip } from './helpers/s3.js';

// Clients and workers that share nothing but Temporal and the S3 store: three `nightshift worker`
// processes, each with its own empty NIGHTSHIFT_HOME, and a client with a fourth. Two of the
// workers are SIGKILLed mid-run; the run must end as a single worker's run does.

const skip = await s3Skip();
const STARTED = proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
const LINES = chatLines(600);
const PARTS = { maxRequestsPerBatch: 100 };

if (skip) {
  test('workers that share only Temporal and an S3 store', { skip }, () => {});
} else {
  let server: S3Server | null = null;
  const rig = useRig('s3-workers', {
    worker: 'process',
    // Slow enough that the parts are still running when the workers are killed.
    emulator: { timing: { ...TIMING, perRequestMs: 10 } },
    store: async () => {
      server = await S3Server.start();
      return server.shared('workers');
    },
  });
  after(() => server?.stop());

  let baseline: ReturnType<typeof comparable> | undefined;

  test('one worker: the reference run, its input uploaded by the client', async () => {
    const input = await rig.writeInput(LINES, 'reference.jsonl');
    const { run } = await rig.nightshift.submit(input, { id: 's3-reference', ...PARTS });
    assert.equal((await run.wait()).status, 'completed');
    const results = await rig.results(run.id);
    assertRunIntegrity(rig.emulator.stats(), run.id, idsOf(LINES), results);
    baseline = comparable(results);
  });

  test('three workers, two killed (one mid-wait, one mid-download): same results', {
    timeout: 240_000,
  }, async (t) => {
    await rig.startWorker();
    await rig.startWorker();
    const [first, second, third] = rig.workerProcesses as [CliProcess, CliProcess, CliProcess];
    const earlier = { ...rig.emulator.stats().submissions };
    rig.emulator.clearFaults();
    const download = rig.emulator.addFault({
      endpoint: 'files.content',
      kind: 'slow',
      delayMs: 4_000,
      times: 1,
    });
    const runId = 's3-killed';
    // The client's own home: no worker can read the input there, only its copy in the store.
    const clientHome = await mkdtemp(join(tmpdir(), 'nightshift-client-'));
    const env = { ...rig.cliEnv(), NIGHTSHIFT_HOME: clientHome };
    const input = join(clientHome, 'requests.jsonl');
    await writeFile(input, `${LINES.join('\n')}\n`);
    const submitted = await runCli(
      // --no-cache: the reference run answered these very requests, and they must be sent.
      [
        'submit',
        input,
        '--id',
        runId,
        '--max-requests-per-batch',
        '100',
        '--poll-interval',
        '0.1',
        '--no-cache',
      ],
      env,
    );
    assert.equal(submitted.code, 0, submitted.stderr);

    await eventually('a batch in progress', () =>
      batchesOf(rig.emulator.stats(), runId).some(
        (b) => b.status === 'in_progress' && b.request_counts.completed > 0,
      )
        ? true
        : undefined,
    );
    await killWorker(first);
    await expireDeadWorker(rig.client, runId);

    await eventually('a download in flight', () =>
      faultFired(rig.emulator, download) > 0 ? true : undefined,
    );
    const downloader = await workerRunning(runId, 'download', [second, third]);
    await killWorker(downloader);
    await expireDeadWorker(rig.client, runId);

    const summary = await rig.nightshift.run(runId).wait();
    assert.equal(summary.status, 'completed');
    const out = join(clientHome, 'out');
    const written = await runCli(['results', runId, '--out', out], env);
    assert.equal(written.code, 0, written.stderr);
    const results = (await readFile(join(out, 'results.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as ResultLine);
    assertRunIntegrity(rig.emulator.stats(), runId, idsOf(LINES), results, earlier);
    assert.deepEqual(comparable(results), baseline, 'the results of the single-worker run');

    const shares = await activityShares(runId, [first, second, third]);
    t.diagnostic(`activities per worker: ${JSON.stringify(shares)}`);
    assert.ok(Object.values(shares).filter((n) => n > 0).length >= 2, JSON.stringify(shares));
  });

  /** The worker process running an activity of the run right now. */
  async function workerRunning(runId: string, activity: string, workers: CliProcess[]) {
    for (const workflowId of await workflowsOfRun(rig.client, runId)) {
      const { raw } = await rig.client.workflow.getHandle(workflowId).describe();
      for (const pending of raw.pendingActivities ?? []) {
        if (pending.activityType?.name !== activity || pending.state !== STARTED) continue;
        const pid = Number(pending.lastWorkerIdentity?.split('@')[0]);
        const worker = workers.find((w) => w.child.pid === pid);
        if (worker) return worker;
      }
    }
    throw new Error(`no ${activity} of ${runId} running on any of the workers`);
  }

  /** Activity tasks each worker started for the run, from the histories (`worker-N`: N-th). */
  async function activityShares(runId: string, workers: CliProcess[]) {
    const shares: Record<string, number> = Object.fromEntries(
      workers.map((_, i) => [`worker-${i + 1}`, 0]),
    );
    for (const workflowId of await workflowsOfRun(rig.client, runId)) {
      const history = await rig.client.workflow.getHandle(workflowId).fetchHistory();
      for (const event of history.events ?? []) {
        const identity = event.activityTaskStartedEventAttributes?.identity;
        if (!identity) continue;
        const i = workers.findIndex((w) => String(w.child.pid) === identity.split('@')[0]);
        const key = i >= 0 ? `worker-${i + 1}` : identity;
        shares[key] = (shares[key] ?? 0) + 1;
      }
    }
    return shares;
  }
}
