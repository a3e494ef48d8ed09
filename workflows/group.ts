// Fan-out in levels: a run of more parts than one execution should hold children (Temporal
// allows 2,000 pending children, and each adds events to its parent's history) hands them to
// group workflows of at most `width` children each, in as many levels as it takes: 2,000 parts
// at width 1,000 are two groups; 3,000 parts at width 10 are 3 groups of 10 groups of 10 groups
// of 10 parts. Each part
// tells the run itself when it starts and ends, so the run's progress and budget see every part
// whatever the level.
import {
  ApplicationFailure,
  type ChildWorkflowHandle,
  condition,
  getExternalWorkflowHandle,
  setHandler,
  startChild,
  type Workflow,
} from '@temporalio/workflow';
import { batchWorkflow } from './batch.js';
import { groupWorkflowId, partWorkflowId } from './ids.js';
import { partOutcomeOf } from './legacy.js';
import { cancelSignal, partEndedSignal, partStartedSignal } from './messages.js';
import { NightshiftRunId } from './search-attributes.js';
import type { BatchEndpoint, PartRef, RunOptions } from './types.js';
import { inWindow } from './window.js';

/** Children one execution holds at most, unless the run says otherwise (`fanOutWidth`). */
export const DEFAULT_FAN_OUT_WIDTH = 1_000;

export interface GroupInput {
  runId: string;
  /** Where the group sits: `[2]` is the run's second group, `[2, 1]` that group's first. */
  path: number[];
  parts: PartRef[];
  endpoint: BatchEndpoint;
  model: string | null;
  /** The run's options, with `maxConcurrentBatches` this group's share. */
  options: RunOptions;
  width: number;
}

export interface GroupResult {
  /** Why the group stopped early: a part failed for good (absent: it did not). */
  failure?: string;
}

/**
 * The groups `parts` are split in when they are more than `width`, else null: groups of
 * `width^k` parts, the smallest `k` that leaves at most `width` groups.
 */
export function groupsOf(parts: PartRef[], width: number): PartRef[][] | null {
  if (parts.length <= width) return null;
  let size = width;
  while (Math.ceil(parts.length / size) > width) size *= width;
  const groups: PartRef[][] = [];
  for (let i = 0; i < parts.length; i += size) groups.push(parts.slice(i, i + size));
  return groups;
}

/** Batches each of `groups` groups may have in flight, the groups running `limit` at most. */
export function shareOf(limit: number, groups: number): number {
  return Math.max(1, Math.floor(limit / Math.min(limit, groups)));
}

/**
 * What the run and a group share: children in flight, at most the concurrency limit, stopped
 * by `stopping()`; a cancel reaches every child still running.
 */
export interface Fleet {
  runId: string;
  endpoint: BatchEndpoint;
  model: string | null;
  options: RunOptions;
  width: number;
  running: Set<ChildWorkflowHandle<Workflow>>;
  stopping(): boolean;
  /** A part or group that failed for good: the fleet stops. */
  fail(reason: unknown): void;
}

/** Runs `parts` as groups of the fleet (see {@link groupsOf}), at its concurrency in total. */
export async function runGroups(fleet: Fleet, path: number[], groups: PartRef[][]) {
  const { runId, options, width } = fleet;
  const share = shareOf(options.maxConcurrentBatches, groups.length);
  const numbered = groups.map((parts, i) => ({ parts, path: [...path, i + 1] }));
  await inWindow(
    numbered,
    Math.min(options.maxConcurrentBatches, groups.length),
    fleet.stopping,
    async (group) => {
      const handle = await startChild(partGroupWorkflow, {
        workflowId: groupWorkflowId(runId, group.path),
        args: [
          {
            runId,
            path: group.path,
            parts: group.parts,
            endpoint: fleet.endpoint,
            model: fleet.model,
            options: { ...options, maxConcurrentBatches: share },
            width,
          },
        ],
        typedSearchAttributes: [{ key: NightshiftRunId, value: runId }],
        staticSummary: `Parts ${group.parts[0]?.index}–${group.parts.at(-1)?.index} of run ${runId}`,
      });
      await follow(fleet, handle, async () => {
        const { failure } = await handle.result();
        if (failure) fleet.fail(ApplicationFailure.nonRetryable(failure, 'PartFailed'));
      });
    },
  );
}

/**
 * Once the fleet stops, asks every child still running to cancel. A child whose end has not
 * been seen yet may have ended: it needs nothing, and its signal failing must not fail the
 * workflow (an unhandled rejection would fail every replay of the task).
 */
export function cancelOnStop(fleet: Pick<Fleet, 'running' | 'stopping'>): void {
  void condition(fleet.stopping).then(() => Promise.all([...fleet.running].map(cancelChild)));
}

async function cancelChild(handle: ChildWorkflowHandle<Workflow>): Promise<void> {
  try {
    await handle.signal(cancelSignal);
  } catch (err) {
    if (!(err instanceof ApplicationFailure && err.type === 'ExternalWorkflowExecutionNotFound')) {
      throw err;
    }
  }
}

/** Runs a child to its end in the fleet: reachable by a cancel meanwhile, a failure recorded. */
export async function follow(
  fleet: Fleet,
  handle: ChildWorkflowHandle<Workflow>,
  wait: () => Promise<void>,
): Promise<void> {
  fleet.running.add(handle);
  try {
    if (fleet.stopping()) await cancelChild(handle);
    await wait();
  } catch (err) {
    fleet.fail(err);
  } finally {
    fleet.running.delete(handle);
  }
}

/**
 * A group of a run's parts: runs them as batch workflows (or as groups of its own when they are
 * more than its width), each part reporting its start and end to the run.
 */
export async function partGroupWorkflow(input: GroupInput): Promise<GroupResult> {
  let cancelled = false;
  let failure: unknown = null;
  const fleet: Fleet = {
    ...input,
    running: new Set(),
    stopping: () => cancelled || failure !== null,
    fail: (err) => {
      failure ??= err;
    },
  };
  setHandler(cancelSignal, () => {
    cancelled = true;
  });
  cancelOnStop(fleet);
  const groups = groupsOf(input.parts, input.width);
  if (groups) await runGroups(fleet, input.path, groups);
  else await runLeaf(fleet, input.parts);
  return failure ? { failure: messageOf(failure) } : {};
}

/** Starts a part's batch workflow, named for the run so that clients find it. */
export function startPart(
  { runId, endpoint, model, options }: Omit<Fleet, 'running'>,
  part: PartRef,
): Promise<ChildWorkflowHandle<typeof batchWorkflow>> {
  return startChild(batchWorkflow, {
    workflowId: partWorkflowId(runId, part.index),
    args: [{ runId, part, endpoint, model, options }],
    typedSearchAttributes: [{ key: NightshiftRunId, value: runId }],
    staticSummary: `Part ${part.index} of run ${runId}: ${part.requests} requests`,
  });
}

async function runLeaf(fleet: Fleet, parts: PartRef[]): Promise<void> {
  const run = getExternalWorkflowHandle(fleet.runId);
  await inWindow(parts, fleet.options.maxConcurrentBatches, fleet.stopping, async (part) => {
    const handle = await startPart(fleet, part);
    await run.signal(partStartedSignal, part.index);
    await follow(fleet, handle, async () => {
      await run.signal(partEndedSignal, partOutcomeOf(await handle.result()));
    });
  });
}

/** A failure's message, with its cause's: a child's failure says only that the child failed. */
function messageOf(err: unknown): string {
  const { message, cause } = err as Error;
  return cause instanceof Error ? `${message}: ${messageOf(cause)}` : message;
}
