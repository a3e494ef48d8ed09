import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import {
  bundleWorkflowCode,
  Worker,
  type WorkflowBundleOption,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { installCollector } from '../activities/garbage.js';
import type { NightshiftActivities } from '../activities/index.js';
import { activityLogFields } from './activity-log.js';
import { DEFAULT_TASK_QUEUE } from './config.js';

/** The compiled workflows entry, next to this file's compiled tree. */
/**
 * glibc settings a worker process should start with (the Docker image sets them; glibc reads
 * them only at start): two malloc arenas instead of eight a core, and freed memory handed back
 * past 128 KB. At 1M requests on 2 cores they took the worker's peak RSS from 678 MB to 524 MB
 * for 13% more CPU (one run each, bench/README.md).
 */
export const WORKER_MALLOC_ENV = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
} as const;

export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundling takes seconds; one bundle serves every worker of the process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  return bundle;
}

const quietBundlerLogger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error(message: string, meta?: Record<string, unknown>) {
    console.error(message, meta ?? '');
  },
  log() {},
};

export interface NightshiftWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  activities: NightshiftActivities;
  /** Must match the clients' (e.g. the encryption codec from `dataConverterFromEnv`). */
  dataConverter?: DataConverter;
  /**
   * A bundle made beforehand (e.g. by `workflowBundle()` in another process and saved): bundling
   * runs webpack, which costs seconds and puts a lasting ~100 MB on the worker's peak RSS.
   */
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
