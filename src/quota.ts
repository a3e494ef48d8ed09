// The client's side of the enqueued-token ledger (`workflows/ledger.ts`): setting a limit, which
// starts the ledger if need be (Update-with-Start), finding the ledger a run should queue in, and
// reading every ledger for `nightshift quota show`.
import { type Client, WithStartWorkflowOperation, WorkflowNotFoundError } from '@temporalio/client';
import {
  type LedgerKey,
  type LedgerState,
  ledgerQuery,
  ledgerWorkflowId,
  setLimitUpdate,
  type tokenLedgerWorkflow,
} from '../workflows/ledger.js';

/** Sets a ledger's limit (null: unlimited), starting the ledger if it is not running yet. */
export function setQuota(
  temporal: Client,
  taskQueue: string,
  key: LedgerKey,
  limit: number | null,
): Promise<LedgerState> {
  const workflowId = ledgerWorkflowId(key);
  return temporal.workflow.executeUpdateWithStart(setLimitUpdate, {
    args: [{ limit }],
    startWorkflowOperation: new WithStartWorkflowOperation<typeof tokenLedgerWorkflow>(
      'tokenLedgerWorkflow',
      {
        workflowId,
        taskQueue,
        args: [{ key }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        staticSummary: `Enqueued-token ledger of ${key.provider} ${key.model} (account ${key.account})`,
      },
    ),
  });
}

/** The ledger a run of this key queues in, if one is running (a quota was set); else null. */
export async function runningLedger(temporal: Client, key: LedgerKey): Promise<string | null> {
  const workflowId = ledgerWorkflowId(key);
  try {
    const description = await temporal.workflow.getHandle(workflowId).describe();
    return description.status.name === 'RUNNING' ? workflowId : null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/** Every running ledger's state: limits, reservations, waiting parts, the latest grants. */
export async function ledgers(temporal: Client): Promise<LedgerState[]> {
  const states: LedgerState[] = [];
  const query = "WorkflowType = 'tokenLedgerWorkflow' AND ExecutionStatus = 'Running'";
  for await (const wf of temporal.workflow.list({ query })) {
    states.push(await temporal.workflow.getHandle(wf.workflowId).query(ledgerQuery));
  }
  return states.sort((a, b) => ledgerWorkflowId(a.key).localeCompare(ledgerWorkflowId(b.key)));
}
