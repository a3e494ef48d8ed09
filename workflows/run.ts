import {
  CancellationScope,
  type ChildWorkflowHandle,
  condition,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { bulk } from './activity-proxies.js';
import { batchWorkflow } from './batch.js';
import { partWorkflowId } from './ids.js';
import { cancelSignal, runProgressQuery } from './messages.js';
import { pendingPart } from './progress.js';
import {
  NightshiftEndpoint,
  NightshiftModel,
  NightshiftRunId,
  NightshiftStatus,
} from './search-attributes.js';
import type {
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
export async function runWorkflow(input: RunInput): Promise<RunSummary> {
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
    const prepared = await bulk.prepare.executeWithOptions(
      { summary: `validate and split ${input.inputPath}` },
      [
        {
          runId,
          inputPath: input.inputPath,
          endpoint: options.endpoint,
          maxRequestsPerBatch: options.maxRequestsPerBatch,
          maxBytesPerBatch: options.maxBytesPerBatch,
        },
      ],
    );
    progress.total = prepared.total;
    progress.endpoint = prepared.endpoint;
    progress.model = prepared.model;
    progress.parts = prepared.parts.map((p) => pendingPart(p, 0));
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
      const entry = progress.parts[part.part - 1];
      if (entry) entry.phase = 'uploading';
      const handle = await startChild(batchWorkflow, {
        workflowId: partWorkflowId(runId, part.part),
        args: [{ runId, part, endpoint: prepared.endpoint, options }],
        typedSearchAttributes: [{ key: NightshiftRunId, value: runId }],
        staticSummary: `Part ${part.part} of run ${runId}: ${part.requests} requests`,
      });
      running.set(part.part, handle);
      try {
        if (stopping()) await handle.signal(cancelSignal);
        const outcome = await handle.result();
        outcomes.set(part.part, outcome);
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
        running.delete(part.part);
        setStatus('running');
      }
    };

    // Stopping (a cancel, or one part failing for good) reaches every part still running.
    void condition(stopping).then(() =>
      Promise.all([...running.values()].map((h) => h.signal(cancelSignal))),
    );

    const inFlight = new Set<Promise<void>>();
    for (const part of prepared.parts) {
      await condition(() => inFlight.size < options.maxConcurrentBatches || stopping());
      if (stopping()) break;
      const task: Promise<void> = runPart(part).finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
    await condition(() => inFlight.size === 0);

    setStatus('merging');
    const summary = await bulk.finalize.executeWithOptions(
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
            parts: prepared.parts.map((part) => ({
              part,
              resultsPaths: outcomes.get(part.part)?.resultsPaths ?? [],
            })),
          },
          batches: [...outcomes.values()].flatMap((o) => o.batches),
        },
      ],
    );
    if (failure) throw failure;
    setStatus(summary.status);
    return summary;
  }
}
