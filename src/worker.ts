import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { installCollector } from '../activities/garbage.js';
import type { NightshiftActivities } from '../activities/index.js';
import { activityLogFields } from './activity-log.js';
import { DEFAULT_TASK_QUEUE } from './config.js';
import { workflowBundle } from './workflow-bundle.js';

/** `process.execve`, which Node has from 22.15 and 23.11 on (its types here are Node 20's). */
type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/**
 * Starts this process over in `environment` (the config's `mallocRestart`: this one's with
 * `WORKER_MALLOC_ENV` added, which glibc reads only at start). `process.execve` replaces the
 * program in place: the pid, and so a supervisor's signals, stay the worker's. Returns only
 * where that cannot be done (Node 20).
 */
export function restartWithMallocSettings(environment: NodeJS.ProcessEnv): void {
  const execve = (process as { execve?: Execve }).execve;
  if (!execve) return;
  const args = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  execve(process.execPath, args, environment);
}

export interface NightshiftWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  activities: NightshiftActivities;
  /** Must match the clients' (e.g. the encryption codec from `dataConverterFromEnv`). */
  dataConverter?: DataConverter;
  /** Another bundle of the workflows than the build's (`workflowBundle()`). */
  workflowBundle?: WorkflowBundleOption;
}

export async function createNightshiftWorker(options: NightshiftWorkerOptions): Promise<Worker> {
  installCollector();
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowBundle: options.workflowBundle ?? (await workflowBundle()),
    activities: options.activities,
    dataConverter: options.dataConverter,
    interceptors: { activity: [activityLogFields] },
    // Activities mostly wait on the provider or stream files; a few dozen at once keep two
    // cores busy without holding many large parts in flight.
    maxConcurrentActivityTaskExecutions: 32,
  });
}
