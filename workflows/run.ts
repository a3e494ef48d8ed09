import {
  CancellationScope,
  type ChildWorkflowHandle,
  condition,
  getExternalWorkflowHandle,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { emptyUsage } from '../src/pricing.js';
import { finalize, prepare } from './activity-proxies.js';
import { batchWorkflow } from './batch.js';
import { partWorkflowId } from './ids.js';
import { partOutcomeOf, partRefOf, runInputOf } from './legacy.js';
import {
  budgetReplySignal,
  budgetRequestSignal,
  cancelSignal,
  runProgressQuery,
} from './messages.js';
import { pendingPart } from './progress.js';
import {
  NightshiftEndpoint,
  NightshiftModel,
  NightshiftRunId,
  NightshiftStatus,
} from './search-attributes.js';
import type {
  Budget,
  PartOutcome,
  PartRef,
  RunInput,
  RunProgress,
  RunStatus,
  RunSummary,
} from './types.js';

/**
 * A whole run: prepare the input into parts, run one batch workflow per part with at most
 * `maxConcurrentBatches` in flight, then merge the results in input order.
 */
export async function runWorkflow(workflowInput: RunInput): Promise<RunSummary> {
  const input = runInputOf(workflowInput);
  const runId = workflowInfo().workflowId;
  const { options } = input;
  const progress: RunProgress = {
    runId,
    status: 'preparing',
    cancelRequested: false,
    total: 0,
    endpoint: options.endpoint ?? null,
    model: null,
    parts: [],
  };
  setHandler(runProgressQuery, () => progress);
  const budgetStops: string[] = [];
  if (options.budget) guardBudget(runId, options.budget, budgetStops);
  setHandler(cancelSignal, () => {
    progress.cancelRequested = true;
  });
  // Temporal's own cancel (UI, `handle.cancel()`) means the same as the signal: stop the
  // provider batches, keep what finished, write the results.
  CancellationScope.current().cancelRequested.catch(() => {
    progress.cancelRequested = true;
  });

  const setStatus = (status: RunStatus) => {
    progress.status = status;
    upsertSearchAttributes([{ key: NightshiftStatus, value: status }]);
    const done = progress.parts.filter((p) => p.phase === 'done').length;
    setCurrentDetails(
      `**${status}** · ${progress.total} requests · ${done}/${progress.parts.length} parts done` +
        (progress.cancelRequested ? ' · cancel requested' : ''),
    );
  };

  return CancellationScope.nonCancellable(() =>
    runParts().catch((err: unknown) => {
      // The UI's status column must not keep saying "running" for a run that died.
      setStatus('failed');
      throw err;
    }),
  );

  async function runParts(): Promise<RunSummary> {
    setStatus('preparing');
    const prepared = await prepare.executeWithOptions(
      { summary: `validate and split ${input.inputFile}` },
      [
        {
          runId,
          inputFile: input.inputFile,
          endpoint: options.endpoint,
          maxRequestsPerBatch: options.maxRequestsPerBatch,
          maxBytesPerBatch: options.maxBytesPerBatch,
          validated: input.validated,
        },
      ],
    );
    const parts = prepared.parts.map(partRefOf);
    progress.total = prepared.total;
    progress.endpoint = prepared.endpoint;
    progress.model = prepared.model;
    progress.parts = parts.map((p) => pendingPart(p, 0));
    upsertSearchAttributes([
      { key: NightshiftEndpoint, value: prepared.endpoint },
      ...(prepared.model ? [{ key: NightshiftModel, value: prepared.model }] : []),
    ]);
    setStatus('running');

    const outcomes = new Map<number, PartOutcome>();
    const running = new Map<number, ChildWorkflowHandle<typeof batchWorkflow>>();
    let failure: unknown = null;
    const stopping = () => progress.cancelRequested || failure !== null;

    const runPart = async (part: PartRef) => {
      const entry = progress.parts[part.index - 1];
      if (entry) entry.phase = 'uploading';
      const handle = await startChild(batchWorkflow, {
        workflowId: partWorkflowId(runId, part.index),
        args: [{ runId, part, endpoint: prepared.endpoint, options }],
        typedSearchAttributes: [{ key: NightshiftRunId, value: runId }],
        staticSummary: `Part ${part.index} of run ${runId}: ${part.requests} requests`,
      });
      running.set(part.index, handle);
      try {
        if (stopping()) await handle.signal(cancelSignal);
        const outcome = partOutcomeOf(await handle.result());
        outcomes.set(part.index, outcome);
        const last = outcome.batches.at(-1);
        if (entry) {
          Object.assign(entry, {
            phase: 'done',
            counts: outcome.counts,
            attempt: last?.attempt ?? entry.attempt,
            batchId: last?.batch_id ?? null,
            providerStatus: last?.status ?? null,
            requestCounts: last?.request_counts ?? entry.requestCounts,
          });
        }
      } catch (err) {
        failure ??= err;
      } finally {
        running.delete(part.index);
        setStatus('running');
      }
    };

    // Stopping (a cancel, or one part failing for good) reaches every part still running.
    void condition(stopping).then(() =>
      Promise.all([...running.values()].map((h) => h.signal(cancelSignal))),
    );

    const inFlight = new Set<Promise<void>>();
    for (const part of parts) {
      await condition(() => inFlight.size < options.maxConcurrentBatches || stopping());
      if (stopping()) break;
      const task: Promise<void> = runPart(part).finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
    await condition(() => inFlight.size === 0);

    setStatus('merging');
    const summary = await finalize.executeWithOptions(
      { summary: `merge ${prepared.total} results in input order, write summary.json` },
      [
        {
          runId,
          endpoint: prepared.endpoint,
          model: prepared.model,
          startedAt: input.submittedAt,
          cancelled: progress.cancelRequested,
          failed: failure !== null,
          merge: {
            runId,
            // Parts never started because the run stopped: their requests were never sent.
            unfinishedStatus: 'cancelled',
            parts: parts.map((part) => ({
              part,
              results: outcomes.get(part.index)?.results ?? [],
              usage: outcomes.get(part.index)?.usage ?? emptyUsage(),
            })),
          },
          batches: [...outcomes.values()].flatMap((o) => o.batches),
          ...(options.budget
            ? { budget: { max_usd: options.budget.maxUsd, stopped: budgetStops } }
            : {}),
        },
      ],
    );
    if (failure) throw failure;
    setStatus(summary.status);
    return summary;
  }
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
      reason =
        `part ${request.part}: resubmitting after attempt ${request.attempt} would cost ` +
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
