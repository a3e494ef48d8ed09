// The workflow bundle's entry: every workflow type the worker registers.
export { batchWorkflow } from './batch.js';
export { partGroupWorkflow } from './group.js';
export { tokenLedgerWorkflow } from './ledger.js';
export { runWorkflow } from './run.js';
export { scheduledRunWorkflow } from './scheduled.js';
