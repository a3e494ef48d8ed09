import {
  CancellationScope,
  type ChildWorkflowHandle,
  getExternalWorkflowHandle,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  type Workflow,
  workflowInfo,
} from '@temporalio/workflow';
import { addUsage, emptyUsage } from '../src/pricing.js';
import { finalize, prepare } from './activity-proxies.js';
import {
  cancelOnStop,
  DEFAULT_FAN_OUT_WIDTH,
  type Fleet,
  follow,
  groupsOf,
  runGroups,
  startPart,
} from './group.js';
import { partWorkflowId } from './ids.js';
import { partOutcomeOf, partRefOf, runInputOf } from './legacy.js';
import {
  budgetReplySignal,
  budgetRequestSignal,
  cancelSignal,
  partEndedSignal,
  partStartedSignal,
  runProgressQuery,
} from './messages.js';
import { pendingPart } from './progress.js';
import { NightshiftEndpoint, NightshiftModel, NightshiftStatus } from './search-attributes.js';
import type {
  Budget,
  PartOutcome,
  PartRef,
  PartSync,
  PrepareInput,
  PrepareResult,
  RunInput,
  RunProgress,
  RunStatus,
  RunSummary,
} from './types.js';
import { inWindow } from './window.js';

/** One run in flight: what the steps below share, passed to each explicitly. */
interface Run {
  runId: string;
  input: RunInput;
  progress: RunProgress;
  /** Why parts stopped resubmitting for the budget, for the summary. */
  budgetStops: string[];
  outcomes: Map<number, PartOutcome>;
  /** Parts (or groups of parts) running: a stop reaches them. */
  running: Set<ChildWorkflowHandle<Workflow>>;
  /** The first part that failed for good: the run stops and ends failed. */
  failure: unknown;
}

/**
 * A whole run: prepare the input into parts, run one batch workflow per part with at most
 * `maxConcurrentBatches` in flight, then merge the results in input order.
 */
export async function runWorkflow(input: RunInput): Promise<RunSummary> {
  const run = startRun(input);
  return CancellationScope.nonCancellable(async () => {
    try {
      setStatus(run, 'preparing');
      const prepared = await prepareRun(run);
      setStatus(run, 'running');
      await runParts(run, prepared);
      setStatus(run, 'merging');
      const summary = await finishRun(run, prepared);
      if (run.failure) throw run.failure;
      setStatus(run, summary.status);
      return summary;
    } catch (err) {
      // The UI's status column must not keep saying "running" for a run that died.
      setStatus(run, 'failed');
      throw err;
    }
  });
}

function startRun(workflowInput: RunInput): Run {
  const input = runInputOf(workflowInput);
  const runId = workflowInfo().workflowId;
  const run: Run = {
    runId,
    input,
    progress: {
      runId,
      status: 'preparing',
      cancelRequested: false,
      total: 0,
      endpoint: input.options.endpoint ?? null,
      model: null,
      parts: [],
    },
    budgetStops: [],
    outcomes: new Map(),
    running: new Set(),
    failure: null,
  };
  setHandler(runProgressQuery, () => run.progress);
  if (input.options.budget) guardBudget(runId, input.options.budget, run.budgetStops);
  setHandler(cancelSignal, () => {
    run.progress.cancelRequested = true;
  });
  // Temporal's own cancel (UI, `handle.cancel()`) means the same as the signal: stop the
  // provider batches, keep what finished, write the results.
  CancellationScope.current().cancelRequested.catch(() => {
    run.progress.cancelRequested = true;
  });
  return run;
}

function setStatus(run: Run, status: RunStatus): void {
  run.progress.status = status;
  upsertSearchAttributes([{ key: NightshiftStatus, value: status }]);
  showProgress(run);
}

/** The UI's details line: the status, and how many parts are done. */
function showProgress({ progress }: Run): void {
  const { status } = progress;
  const done = progress.parts.filter((p) => p.phase === 'done').length;
  setCurrentDetails(
    `**${status}** · ${progress.total} requests · ${done}/${progress.parts.length} parts done` +
      (progress.cancelRequested ? ' · cancel requested' : ''),
  );
}

/** A cancel, or one part failing for good, stops the run. */
const stopping = (run: Run) => run.progress.cancelRequested || run.failure !== null;

/** Validates and splits the input; the parts become the run's progress. */
async function prepareRun(run: Run) {
  const { input, progress } = run;
  const { options } = input;
  const prepared = await prepare.executeWithOptions(
    { summary: `validate and split ${input.inputFile}` },
    [
      {
        runId: run.runId,
        provider: options.provider,
        inputFile: input.inputFile,
        endpoint: options.endpoint,
        maxRequestsPerBatch: options.maxRequestsPerBatch,
        maxBytesPerBatch: options.maxBytesPerBatch,
        validated: input.validated,
        ...lookUpOf(input),
      },
    ],
  );
  const parts = prepared.parts.map(partRefOf);
  progress.total = prepared.total;
  const cached = input.cached ?? prepared.cached;
  if (cached) progress.cached = cached.hits;
  progress.endpoint = prepared.endpoint;
  progress.model = prepared.model;
  progress.parts = parts.map((p) => pendingPart(p, 0));
  upsertSearchAttributes([
    { key: NightshiftEndpoint, value: prepared.endpoint },
    ...(prepared.model ? [{ key: NightshiftModel, value: prepared.model }] : []),
  ]);
  return { ...prepared, parts, ...(cached ? { cached } : {}) };
}

/**
 * The result cache's part in prepare: the lines submit looked up (runs before 0.5.1), or a
 * lookup for prepare to make.
 */
function lookUpOf({ cached, options }: RunInput): Pick<PrepareInput, 'cached' | 'lookUp'> {
  if (cached) return { cached: cached.artifact };
  if (!options.cache) return {};
  const lookUp = {
    any: options.cache === 'any',
    ...(options.outputSchema ? { outputSchema: options.outputSchema } : {}),
  };
  return { lookUp };
}

/**
 * Runs the parts as child workflows, at most `maxConcurrentBatches` at once; more parts than
 * the fan-out width go through groups (workflows/group.ts).
 */
async function runParts(run: Run, prepared: PrepareResult): Promise<void> {
  const { options } = run.input;
  const fleet: Fleet = {
    runId: run.runId,
    endpoint: prepared.endpoint,
    model: prepared.model,
    options,
    width: options.fanOutWidth ?? DEFAULT_FAN_OUT_WIDTH,
    running: run.running,
    stopping: () => stopping(run),
    fail: (err) => {
      run.failure ??= err;
    },
  };
  // Stopping reaches every part (or group) still running.
  cancelOnStop(fleet);
  const groups = groupsOf(prepared.parts, fleet.width);
  if (groups) {
    followGroupedParts(run);
    return runGroups(fleet, [], groups);
  }
  await inWindow(prepared.parts, options.maxConcurrentBatches, fleet.stopping, (part) =>
    runPart(run, fleet, part),
  );
}

async function runPart(run: Run, fleet: Fleet, part: PartRef): Promise<void> {
  const entry = run.progress.parts[part.index - 1];
  if (entry) entry.phase = 'uploading';
  const handle = await startPart(fleet, part);
  await follow(fleet, handle, async () => {
    recordOutcome(run, partOutcomeOf(await handle.result()));
  });
  setStatus(run, 'running');
}

/** The parts of groups report to the run: its progress and outcomes are theirs. */
function followGroupedParts(run: Run): void {
  setHandler(partStartedSignal, (index) => {
    const entry = run.progress.parts[index - 1];
    if (entry) entry.phase = 'uploading';
  });
  setHandler(partEndedSignal, (outcome) => {
    recordOutcome(run, outcome);
    showProgress(run);
  });
}

function recordOutcome(run: Run, outcome: PartOutcome): void {
  run.outcomes.set(outcome.part, outcome);
  const entry = run.progress.parts[outcome.part - 1];
  if (!entry) return;
  const last = outcome.batches.at(-1);
  Object.assign(entry, {
    phase: 'done',
    counts: outcome.counts,
    attempt: last?.attempt ?? entry.attempt,
    batchId: last?.batch_id ?? null,
    providerStatus: last?.status ?? null,
    requestCounts: last?.request_counts ?? entry.requestCounts,
  });
}

/** Merges every part's results in input order and writes summary.json. */
async function finishRun(run: Run, prepared: PrepareResult): Promise<RunSummary> {
  const { runId, input, outcomes } = run;
  const { budget, deadline } = input.options;
  const parts = [...outcomes.values()];
  const synced = parts.flatMap((o) => (o.sync ? [o.sync] : []));
  return finalize.executeWithOptions(
    { summary: `merge ${prepared.total} results in input order, write summary.json` },
    [
      {
        runId,
        endpoint: prepared.endpoint,
        model: prepared.model,
        startedAt: input.submittedAt,
        cancelled: run.progress.cancelRequested,
        failed: run.failure !== null,
        merge: {
          runId,
          // Parts never started because the run stopped: their requests were never sent.
          unfinishedStatus: 'cancelled',
          parts: prepared.parts.map((part) => ({
            part,
            results: outcomes.get(part.index)?.results ?? [],
            usage: outcomes.get(part.index)?.usage ?? emptyUsage(),
          })),
          ...(prepared.cached ? { cached: prepared.cached.artifact } : {}),
        },
        batches: parts.flatMap((o) => o.batches),
        ...(budget ? { budget: { max_usd: budget.maxUsd, stopped: run.budgetStops } } : {}),
        ...(deadline
          ? { deadline: { at: deadline.at, hedges: parts.flatMap((o) => o.hedge ?? []) } }
          : {}),
        ...(synced.length > 0 ? { sync: sumSync(synced) } : {}),
      },
    ],
  );
}

/** The parts' synchronous requests, together; `seconds` is the longest part's. */
function sumSync(parts: PartSync[]): PartSync {
  const total: PartSync = {
    requests: 0,
    succeeded: 0,
    usage: emptyUsage(),
    rateLimited: 0,
    seconds: 0,
  };
  for (const part of parts) {
    total.requests += part.requests;
    total.succeeded += part.succeeded;
    addUsage(total.usage, part.usage);
    total.rateLimited += part.rateLimited;
    total.seconds = Math.max(total.seconds, part.seconds);
  }
  return total;
}

/**
 * Keeps the run's spending within its budget: parts report what each attempt cost and ask
 * before resubmitting; a resubmission that would take spent + reserved over the limit is
 * refused, with the reason recorded for the summary.
 */
function guardBudget(runId: string, budget: Budget, stops: string[]): void {
  let spentUsd = 0;
  const reserved = new Map<number, number>();
  setHandler(budgetRequestSignal, async (request) => {
    spentUsd += request.spentUsd;
    reserved.delete(request.part);
    if (request.retryUsd <= 0) return;
    const othersUsd = [...reserved.values()].reduce((a, b) => a + b, 0);
    const granted = spentUsd + othersUsd + request.retryUsd <= budget.maxUsd;
    let reason: string | undefined;
    if (granted) {
      reserved.set(request.part, request.retryUsd);
    } else {
      const how = request.sync
        ? `sending its ${request.sync.requests} leftovers synchronously`
        : 'resubmitting';
      reason =
        `part ${request.part}: ${how} after attempt ${request.attempt} would cost ` +
        `~$${request.retryUsd.toFixed(6)} with $${spentUsd.toFixed(6)} of the ` +
        `$${budget.maxUsd} budget spent; its leftovers stay unfinished`;
      stops.push(reason);
    }
    await getExternalWorkflowHandle(partWorkflowId(runId, request.part)).signal(budgetReplySignal, {
      attempt: request.attempt,
      granted,
      reason,
    });
  });
}
