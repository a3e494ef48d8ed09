import {
  executeChild,
  getExternalWorkflowHandle,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import { prepareScheduledRun } from './activity-proxies.js';
import { ledgerWorkflowId, probeSignal } from './ledger.js';
import { DEFAULT_PROVIDER } from './provider-names.js';
import { runWorkflow } from './run.js';
import { NightshiftRunId } from './search-attributes.js';
import type { RunInput, RunSummary, ScheduledRunSpec } from './types.js';

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
  if (patched('ledger-for-scheduled-runs')) await joinLedger(input, spec);
  return executeChild(runWorkflow, {
    workflowId: runId,
    args: [input],
    typedSearchAttributes: [{ key: NightshiftRunId, value: runId }],
    staticSummary: `Nightshift run ${runId}, fired by schedule ${spec.name}`,
  });
}

/**
 * Queues the run's batches in the enqueued-token ledger of its provider and model, as `submit`
 * does, if one is running (`nightshift quota set`): a signal to a workflow that does not exist
 * fails.
 */
async function joinLedger(input: RunInput, spec: ScheduledRunSpec): Promise<void> {
  const model = input.validated?.model;
  if (!model) return;
  const workflowId = ledgerWorkflowId({
    provider: input.options.provider ?? DEFAULT_PROVIDER,
    account: spec.options.quotaAccount ?? 'default', // DEFAULT_QUOTA_ACCOUNT, which workflows cannot import
    model,
  });
  try {
    await getExternalWorkflowHandle(workflowId).signal(probeSignal);
    input.options.ledger = { workflowId };
  } catch {
    // No quota for this model: the run creates its batches at once.
  }
}
