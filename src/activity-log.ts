import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { partOfWorkflowId } from '../workflows/ids.js';

/** The run, part, attempt and batch an activity works on, as log fields. */
export interface AttemptFields {
  run_id?: string;
  part?: number;
  attempt?: number;
  batch_id?: string;
}

/**
 * Reads them from the activity's input: every activity of a part takes `{ runId, part, attempt }`
 * (with `batchId` once there is one); polls and cancels take `{ provider, batchId }`, and their
 * run and part come from the part's workflow id.
 */
export function attemptFields(input: unknown, workflowId?: string): AttemptFields {
  const owner = workflowId ? partOfWorkflowId(workflowId) : null;
  const fields: AttemptFields = owner ? { run_id: owner.runId, part: owner.part } : {};
  if (typeof input !== 'object' || input === null) return fields;
  const { runId, part, attempt, batchId } = input as Record<string, unknown>;
  if (typeof runId === 'string') fields.run_id = runId;
  if (typeof part === 'number') fields.part = part;
  if (typeof attempt === 'number') fields.attempt = attempt;
  if (typeof batchId === 'string' && batchId) fields.batch_id = batchId;
  return fields;
}

/**
 * Puts those fields on every log entry of an activity, the SDK's own ones included ("Activity
 * failed"), so an operator can follow a run, part and attempt through the logs. The SDK's
 * `attempt` (which try of the activity this is) stays, as `activity_attempt`.
 */
export const activityLogFields: ActivityInterceptorsFactory = (ctx) => {
  let fields: AttemptFields = {};
  return {
    inbound: {
      execute(input, next) {
        fields = attemptFields(input.args[0], ctx.info.workflowExecution?.workflowId);
        return next(input);
      },
    },
    outbound: {
      getLogAttributes(attributes, next) {
        const { attempt, ...rest } = next(attributes);
        return { ...rest, activity_attempt: attempt, ...fields };
      },
    },
  };
};
