import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import type { ArtifactStore } from '../../src/artifacts.js';
import { Nightshift, type ResultLine, type Run, type SubmitOptions } from '../../src/client.js';
import { emulatorProviderConfigs } from '../../src/dev/emulator.js';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../src/emulator/index.js';
import { createProviders } from '../../src/providers/registry.js';
import type { CompatibleProfile } from '../../src/providers/settings.js';
import { LocalArtifactStore } from '../../src/store/local.js';
import { createNightshiftWorker } from '../../src/worker.js';
import { type CliProcess, spawnCli } from './cli.js';
import { startDevServer } from './temporal.js';

/** Emulator timing: fast enough for a suite, slow enough to see a batch in progress a while. */
export const TIMING = { validatingMs: 20, perRequestMs: 2, finalizingMs: 20, cancellingMs: 20 };

/** Submit options that keep a run on the emulator quick: sub-second polls. */
export const FAST: SubmitOptions = {
  pollIntervalSeconds: 0.1,
  maxPollIntervalSeconds: 0.5,
  // Tests reuse request lines across runs and count what is sent: the result cache, which would
  // answer them from the first run, is asked for by the tests of it.
  cache: false,
};

/** The Temporal a rig runs on: a test environment, or a client and its server's address. */
export interface Temporal {
  client: Client;
  address: string;
  /** Needed by an in-process worker. */
  nativeConnection?: NativeConnection;
}

export interface RigOptions {
  /** Where the worker runs: in this process (the default), or as a `nightshift worker` process. */
  worker?: 'in-process' | 'process';
  /** A worker process's OpenAI key (else a dummy one), extra arguments and settings. */
  workerSettings?: { apiKey?: string; args?: string[]; env?: Record<string, string> };
  emulator?: EmulatorOptions;
  /** The OpenAI-compatible server the in-process worker's emulator plays (default: OpenAI's API). */
  compatibleProfile?: CompatibleProfile;
  /** The client's and the in-process worker's, e.g. with an encryption codec. */
  dataConverter?: DataConverter;
  /**
   * A store for the client and the workers instead of the rig's home (the S3 store), made when
   * the rig starts, with the settings a process needs to open it. Each worker process then has
   * a NIGHTSHIFT_HOME of its own, empty: the workers and the client share no disk.
   */
  store?: () => Promise<SharedStore>;
}

export interface SharedStore {
  store: ArtifactStore;
  env: Record<string, string>;
}

/**
 * What a test runs Nightshift on, all real: the Batch API emulator over HTTP, an artifact home in
 * a temp folder, the client library, and a worker whose activities reach the emulator through
 * the official SDK, either in this process or as the `nightshift worker` process a user runs
 * (which a test can SIGKILL). Temporal is given: a server the test file started.
 */
export class Rig {
  emulator!: Emulator;
  home!: string;
  store!: ArtifactStore;
  client!: Client;
  nightshift!: Nightshift;
  private temporal!: Temporal;
  private storeEnv: Record<string, string> = {};
  private inProcess: { worker: Worker; running: Promise<void> } | null = null;
  /** The worker processes started, oldest first. */
  private spawned: CliProcess[] = [];

  constructor(
    readonly taskQueue: string,
    private readonly options: RigOptions = {},
  ) {}

  static start(temporal: Temporal, taskQueue: string, options: RigOptions = {}): Promise<Rig> {
    return new Rig(taskQueue, options).start(temporal);
  }

  async start(temporal: Temporal): Promise<this> {
    const { dataConverter } = this.options;
    this.temporal = temporal;
    this.home = await mkdtemp(join(tmpdir(), 'nightshift-test-'));
    this.emulator = await startEmulator({ timing: TIMING, ...this.options.emulator });
    const shared = await this.options.store?.();
    this.store = shared?.store ?? new LocalArtifactStore(this.home);
    this.storeEnv = shared?.env ?? {};
    const { connection, options } = temporal.client;
    this.client = dataConverter
      ? new Client({ connection, namespace: options.namespace, dataConverter })
      : temporal.client;
    this.nightshift = new Nightshift(this.client, this.taskQueue, this.store);
    await this.startWorker();
    return this;
  }

  /** The settings a `nightshift` command (or a client script) needs to work on this rig. */
  cliEnv(): Record<string, string> {
    return {
      TEMPORAL_ADDRESS: this.temporal.address,
      NIGHTSHIFT_TASK_QUEUE: this.taskQueue,
      NIGHTSHIFT_HOME: this.home,
      ...this.storeEnv,
    };
  }

  /**
   * Starts a worker: at the rig's start, again after `stopWorker` or a crash, and, for worker
   * processes, more of them beside the first.
   */
  async startWorker(): Promise<void> {
    if (this.options.worker === 'process') {
      this.spawned.push(await this.spawnWorker());
      return;
    }
    const { nativeConnection } = this.temporal;
    if (!nativeConnection) throw new Error('an in-process worker needs a native connection');
    const providers = await createProviders(
      emulatorProviderConfigs(this.emulator, 0, this.options.compatibleProfile),
    );
    const worker = await createNightshiftWorker({
      connection: nativeConnection,
      namespace: this.client.options.namespace,
      taskQueue: this.taskQueue,
      activities: createActivities({ providers, store: this.store }),
      dataConverter: this.options.dataConverter,
    });
    this.inProcess = { worker, running: worker.run() };
  }

  private async spawnWorker(): Promise<CliProcess> {
    const { apiKey = 'sk-reliability', args = [], env = {} } = this.options.workerSettings ?? {};
    const home = this.options.store ? await mkdtemp(join(tmpdir(), 'nightshift-worker-')) : null;
    const worker = spawnCli(['worker', ...args], {
      ...this.cliEnv(),
      ...(home ? { NIGHTSHIFT_HOME: home } : {}),
      OPENAI_BASE_URL: `${this.emulator.url}/v1`,
      OPENAI_API_KEY: apiKey,
      AZURE_OPENAI_ENDPOINT: this.emulator.url,
      AZURE_OPENAI_API_KEY: apiKey,
      ANTHROPIC_BASE_URL: this.emulator.url,
      ANTHROPIC_API_KEY: apiKey,
      GOOGLE_GEMINI_BASE_URL: this.emulator.url,
      GEMINI_API_KEY: apiKey,
      ...env,
    });
    try {
      // Bundling the workflow code takes seconds, more on a busy machine.
      await worker.waitFor(/worker polling task queue/, 90_000);
    } catch (err) {
      worker.child.kill('SIGKILL');
      throw err;
    }
    return worker;
  }

  /** The `nightshift worker` process of a rig with `worker: 'process'`, the latest started. */
  get workerProcess(): CliProcess {
    const latest = this.spawned.at(-1);
    if (!latest) throw new Error(`no worker process serves ${this.taskQueue}`);
    return latest;
  }

  /** Every worker process started since the last `stopWorker`, oldest first. */
  get workerProcesses(): readonly CliProcess[] {
    return this.spawned;
  }

  /**
   * Stops the workers. One in this process shuts down (its tasks finish or go back to the
   * server); worker processes are SIGKILLed: no shutdown, no flush, nothing handed back.
   */
  async stopWorker(): Promise<void> {
    await Promise.all(this.spawned.map(killWorker));
    if (this.inProcess) {
      this.inProcess.worker.shutdown();
      await this.inProcess.running;
    }
    this.spawned = [];
    this.inProcess = null;
  }

  async writeInput(lines: string[], name = 'requests.jsonl'): Promise<string> {
    const path = join(this.home, name);
    await writeFile(path, `${lines.join('\n')}\n`);
    return path;
  }

  /** Submits the lines from `<id>.jsonl` in the home, with quick polls unless told otherwise. */
  async submit(lines: string[], options: SubmitOptions = {}): Promise<Run> {
    const path = await this.writeInput(lines, `${options.id ?? 'requests'}.jsonl`);
    const { run } = await this.nightshift.submit(path, { ...FAST, ...options });
    return run;
  }

  async results(runId: string): Promise<ResultLine[]> {
    const out: ResultLine[] = [];
    for await (const line of this.nightshift.run(runId).results()) out.push(line);
    return out;
  }

  async close(): Promise<void> {
    await this.stopWorker();
    await this.emulator?.close();
  }
}

/** SIGKILLs a worker process (no shutdown, no flush) and waits for its end. */
export async function killWorker(worker: CliProcess): Promise<void> {
  if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
  await worker.exited;
}

/**
 * One rig for a whole test file, on a dev server of its own: started before the file's tests
 * and torn down after them. Its fields are set once the file's `before` hook has run.
 */
export function useRig(taskQueue: string, options: RigOptions = {}): Rig {
  const rig = new Rig(taskQueue, options);
  let env: TestWorkflowEnvironment | undefined;
  before(async () => {
    env = await startDevServer();
    await rig.start(env);
  });
  after(async () => {
    await rig.close();
    await env?.teardown();
  });
  return rig;
}
