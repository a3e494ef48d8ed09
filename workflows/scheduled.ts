import { executeChild, workflowInfo } from '@temporalio/workflow';
import { prepareScheduledRun } from './activity-proxies.js';
import { runWorkflow } from './run.js';
import { NightshiftRunId } from './search-attributes.js';
import type { RunSummary, ScheduledRunSpec } from './types.js';

/**
 * The run id of a firing: its workflow id (`<name>-2026-12-03T02:00:00Z`, as Temporal names a
 * schedule's workflows) with what a run id may not hold left out: `<name>-2026-12-03T020000Z`.
 */
export function scheduledRunId(workflowId: string): string {
  return workflowId.replace(/[^A-Za-z0-9._-]/g, '');
}

/**
 * One firing of a schedule: reads the input afresh (builds template mode's requests, validates,
 * looks up the cache) in the worker, then runs it as a child and ends with it, so that the
 * schedule's overlap policy sees a firing as running for as long as its run.
 */
export async function scheduledRunWorkflow(spec: ScheduledRunSpec): Promise<RunSummary> {
  const runId = scheduledRunId(workflowInfo().workflowId);
  const input = await prepareScheduledRun.executeWithOptions(
    { summary: `read ${spec.input ?? spec.template?.source.path} afresh for run ${runId}` },
    [{ runId, spec }],
  );
  return executeChild(runWorkflow, {
    workflowId: runId,
    args: [input],
    typedSearchAttributes: [{ key: NightshiftRunId, value: runId }],
    staticSummary: `Nightshift run ${runId}, fired by schedule ${spec.name}`,
  });
}
