import { createActivities } from '../../activities/index.js';
import type { ArtifactStore } from '../artifacts.js';
import { dataConverterFor } from '../codec/encryption.js';
import { createProviders, type ProviderConfigs } from '../providers/registry.js';
import { connectWorker, type TemporalConfig } from '../temporal/connection.js';
import { createNightshiftWorker } from '../worker.js';
import { installWorkerRuntime, type WorkerRuntimeOptions } from './runtime.js';

export interface RunningWorker {
  /** Settles when the worker stops, by `stop()` or by a fatal error. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export interface WorkerOptions {
  temporal: TemporalConfig;
  taskQueue: string;
  providers: ProviderConfigs;
  store: ArtifactStore;
  runtime?: WorkerRuntimeOptions;
}

/** A Nightshift worker polling `taskQueue`, until `stop()`. */
export async function runWorker(options: WorkerOptions): Promise<RunningWorker> {
  installWorkerRuntime(options.runtime);
  const connection = await connectWorker(options.temporal);
  try {
    const worker = await createNightshiftWorker({
      connection,
      namespace: options.temporal.namespace,
      taskQueue: options.taskQueue,
      activities: createActivities({
        providers: await createProviders(options.providers),
        store: options.store,
      }),
      dataConverter: dataConverterFor(options.temporal.encryptionKeys),
    });
    const done = worker.run().finally(() => connection.close());
    return {
      done,
      async stop() {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done;
      },
    };
  } catch (err) {
    await connection.close();
    throw err;
  }
}
