import { defineQuery, defineSignal } from '@temporalio/workflow';
import type {
  BudgetReply,
  BudgetRequest,
  PartOutcome,
  PartProgress,
  RunProgress,
} from './types.js';

/** Asks a run (or one part) to cancel its provider batches and finish with partial results. */
export const cancelSignal = defineSignal('cancel');

/** Wakes a waiting batch workflow to poll now (webhooks, impatient users). */
export const pollNowSignal = defineSignal('pollNow');

export const runProgressQuery = defineQuery<RunProgress>('progress');
export const partProgressQuery = defineQuery<PartProgress>('partProgress');

/** Part → run: may my leftovers be resubmitted within the budget? */
export const budgetRequestSignal = defineSignal<[BudgetRequest]>('budgetRequest');
/** Run → part: the answer. */
export const budgetReplySignal = defineSignal<[BudgetReply]>('budgetReply');

/** Part (in a group) → run: its batch workflow started. */
export const partStartedSignal = defineSignal<[number]>('partStarted');
/** Part (in a group) → run: how it ended. */
export const partEndedSignal = defineSignal<[PartOutcome]>('partEnded');
