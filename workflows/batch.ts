import {
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { emptyUsage, usageCostUsd } from '../src/pricing.js';
import { bulk, provider } from './activity-proxies.js';
import {
  budgetReplySignal,
  budgetRequestSignal,
  cancelSignal,
  partProgressQuery,
  pollNowSignal,
} from './messages.js';
import { nextPollInterval } from './poll-interval.js';
import { noCounts, pendingPart } from './progress.js';
import { resultFilesPending } from './result-files.js';
import { NightshiftBatchIds } from './search-attributes.js';
import type {
  BatchEndpoint,
  BatchSnapshot,
  Budget,
  BudgetReply,
  ClassifyResult,
  PartOutcome,
  PartProgress,
  PartRef,
  RunOptions,
  Usage,
} from './types.js';

export type BatchWorkflowOptions = Pick<
  RunOptions,
  | 'maxAttempts'
  | 'pollIntervalSeconds'
  | 'maxPollIntervalSeconds'
  | 'maxFilesWaitSeconds'
  | 'metadata'
  | 'budget'
>;

/** Everything a part needs to resume, carried across continue-as-new. */
export interface BatchState {
  attempt: number;
  inputPath: string;
  /** Requests submitted in this attempt: the whole part, then what is left to retry. */
  attemptRequests: number;
  /** Creations of this attempt so far; only a token-limit failure makes another. */
  tries: number;
  fileId: string | null;
  batchId: string | null;
  cancelRequested: boolean;
  cancelSent: boolean;
  pollSeconds: number | null;
  /** Workflow time the ended batch was first seen without its result files (absent: not yet). */
  filesWaitSince?: number | null;
  outcome: PartOutcome;
  progress: PartProgress;
}

export interface BatchWorkflowInput {
  runId: string;
  part: PartRef;
  endpoint: BatchEndpoint;
  options: BatchWorkflowOptions;
  state?: BatchState;
  /** History length at which a waiting part continues as new (default 2,000). */
  maxHistoryEvents?: number;
}

const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
const MAX_TOKEN_LIMIT_RETRIES = 8;
/** Keeps each run of the chain small even where the server suggests continue-as-new late. */
const DEFAULT_MAX_HISTORY_EVENTS = 2_000;
const DEFAULT_MAX_FILES_WAIT_SECONDS = 3_600;

function initialState(input: BatchWorkflowInput): BatchState {
  const { part } = input.part;
  return {
    attempt: 1,
    inputPath: input.part.path,
    attemptRequests: input.part.requests,
    tries: 0,
    fileId: null,
    batchId: null,
    cancelRequested: false,
    cancelSent: false,
    pollSeconds: null,
    outcome: {
      part,
      resultsPaths: [],
      batches: [],
      counts: noCounts(),
      usage: emptyUsage(),
      cancelled: false,
    },
    progress: pendingPart(input.part, 1),
  };
}

/**
 * One part of a run: upload → create → wait → download → classify, then again for what is
 * left, until everything is final or the attempts are spent.
 */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<PartOutcome> {
  const state = input.state ?? initialState(input);
  let pollNow = false;
  let budgetReply: BudgetReply | null = null;
  setHandler(budgetReplySignal, (reply) => {
    budgetReply = reply;
  });
  setHandler(partProgressQuery, () => state.progress);
  setHandler(pollNowSignal, () => {
    pollNow = true;
  });
  setHandler(cancelSignal, () => {
    state.cancelRequested = true;
  });
  // Temporal's own cancel (UI, `handle.cancel()`) becomes the same request as the signal; the
  // work below runs non-cancellable so that clean-up can still call the provider.
  CancellationScope.current().cancelRequested.catch(() => {
    state.cancelRequested = true;
  });

  return CancellationScope.nonCancellable(async () => {
    const { runId, endpoint, options } = input;
    const { part } = input.part;
    const what = () =>
      `part ${part} attempt ${state.attempt} (${state.attemptRequests.toLocaleString('en-US')} requests)`;
    const phase = (p: PartProgress['phase']) => {
      state.progress.phase = p;
      state.progress.attempt = state.attempt;
      setCurrentDetails(
        `part ${part} · attempt ${state.attempt}/${options.maxAttempts} · ${p}` +
          (state.batchId ? ` · ${state.batchId} (${state.progress.providerStatus ?? 'new'})` : ''),
      );
    };

    for (;;) {
      if (state.cancelRequested && !state.batchId) {
        // Nothing running at the provider: what was not submitted is cancelled as it stands.
        await collect(null);
        return finish();
      }
      const fileId = state.fileId ?? (await upload());
      // A cancel that arrived during the upload must not create a batch: its requests would be
      // processed, and billed, before the cancel reached the provider.
      if (state.cancelRequested && !state.batchId && patched('no-batch-after-cancelled-upload')) {
        continue;
      }
      const batch = await waitForTerminal(state.batchId ?? (await createBatch(fileId)));

      if (batch.status === 'failed') {
        if (batch.errors.some((e) => e.code === 'token_limit_exceeded')) {
          if (state.tries > MAX_TOKEN_LIMIT_RETRIES) {
            throw ApplicationFailure.nonRetryable(
              `part ${part}: batch still over the enqueued-token limit after ${state.tries} tries`,
              'TokenLimitExceeded',
            );
          }
          recordBatch(batch);
          phase('backing-off');
          state.batchId = null;
          // The queue drains as other batches finish; back off harder each time it is still
          // full. A cancel ends the wait: the loop then records the part as cancelled.
          const backoffSeconds = Math.min(
            options.maxPollIntervalSeconds,
            options.pollIntervalSeconds * 2 ** state.tries,
          );
          await condition(() => state.cancelRequested, backoffSeconds * 1000, {
            summary: `token limit: create again in ${backoffSeconds}s`,
          });
          continue;
        }
        recordBatch(batch);
        const lines = batch.errors
          .slice(0, 10)
          .map((e) => (e.line === null ? e.message : `line ${e.line}: ${e.message}`));
        throw ApplicationFailure.nonRetryable(
          `part ${part}: batch ${batch.id} failed validation: ${lines.join('; ')}`,
          'BatchValidationFailed',
          batch.errors,
        );
      }

      // A cancel that lands after classify scheduled a retry still loops once: the next pass
      // records the leftovers as cancelled instead of submitting them.
      const { retryPath, retry } = await collect(batch);
      if (retryPath) {
        state.attempt += 1;
        state.inputPath = retryPath;
        state.attemptRequests = retry;
        state.tries = 0;
        state.fileId = null;
        state.batchId = null;
        state.cancelSent = false;
        state.pollSeconds = null;
        continue;
      }
      return finish();
    }

    async function upload(): Promise<string> {
      phase('uploading');
      const fileId = await bulk.upload.executeWithOptions({ summary: `upload ${what()}` }, [
        { runId, part, attempt: state.attempt, path: state.inputPath },
      ]);
      state.fileId = fileId;
      return fileId;
    }

    async function createBatch(fileId: string): Promise<string> {
      phase('creating');
      const batchId = await provider.createBatch.executeWithOptions(
        { summary: `create the batch of ${what()}` },
        [
          {
            runId,
            part,
            attempt: state.attempt,
            try: state.tries,
            fileId,
            endpoint,
            metadata: options.metadata,
          },
        ],
      );
      state.batchId = batchId;
      state.tries += 1;
      state.progress.batchId = batchId;
      upsertSearchAttributes([
        {
          key: NightshiftBatchIds,
          value: [...state.outcome.batches.map((b) => b.batch_id), batchId],
        },
      ]);
      return batchId;
    }

    /**
     * Reports what the attempt cost to the run and, when there is something to resubmit, waits
     * for the run to say whether that fits the budget (the run sees every part's spending).
     */
    async function askBudget(budget: Budget, result: ClassifyResult): Promise<BudgetReply | null> {
      const parent = workflowInfo().parent;
      if (!parent) return null;
      const costOf = (u: Usage) =>
        usageCostUsd(u, budget.inputUsdPerToken, budget.outputUsdPerToken);
      const spentUsd = costOf(result.usage);
      const succeeded = state.outcome.counts.succeeded + result.counts.succeeded;
      const partCost = costOf(state.outcome.usage) + spentUsd;
      const retryUsd = succeeded > 0 ? (partCost / succeeded) * result.retry : 0;
      budgetReply = null;
      await getExternalWorkflowHandle(parent.workflowId).signal(budgetRequestSignal, {
        part,
        attempt: state.attempt,
        spentUsd,
        retryUsd: result.retry > 0 ? retryUsd : 0,
      });
      if (result.retry === 0) return null;
      await condition(() => budgetReply?.attempt === state.attempt);
      return budgetReply;
    }

    function recordBatch(batch: BatchSnapshot) {
      state.outcome.batches.push({
        batch_id: batch.id,
        part,
        attempt: state.attempt,
        status: batch.status,
        request_counts: batch.requestCounts,
      });
    }

    async function waitForTerminal(batchId: string): Promise<BatchSnapshot> {
      phase('waiting');
      let lastDone = -1;
      for (;;) {
        if (state.cancelRequested && !state.cancelSent) {
          phase('cancelling');
          await provider.cancelBatch.executeWithOptions({ summary: `cancel ${batchId}` }, [
            batchId,
          ]);
          state.cancelSent = true;
        }
        const batch = await provider.pollBatch.executeWithOptions({ summary: `poll ${batchId}` }, [
          batchId,
        ]);
        state.progress.providerStatus = batch.status;
        state.progress.requestCounts = batch.requestCounts;
        if (TERMINAL.has(batch.status)) {
          if (!resultFilesPending(batch)) {
            state.filesWaitSince = null;
            return batch;
          }
          await waitForResultFiles(batch);
        } else {
          phase(state.cancelSent ? 'cancelling' : 'waiting');
          const done = batch.requestCounts.completed + batch.requestCounts.failed;
          state.pollSeconds = nextPollInterval(
            state.pollSeconds,
            batch.status,
            { done, total: batch.requestCounts.total, changed: done !== lastDone },
            { minSeconds: options.pollIntervalSeconds, maxSeconds: options.maxPollIntervalSeconds },
          );
          lastDone = done;
          pollNow = false;
          await condition(
            () => pollNow || (state.cancelRequested && !state.cancelSent),
            state.pollSeconds * 1000,
            {
              summary: `${batch.status} ${done}/${batch.requestCounts.total}: next poll in ${state.pollSeconds}s`,
            },
          );
        }

        const info = workflowInfo();
        if (
          info.continueAsNewSuggested ||
          info.historyLength > (input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS)
        ) {
          await condition(allHandlersFinished);
          await continueAsNew<typeof batchWorkflow>({ ...input, state });
        }
      }
    }

    /**
     * The batch ended, but its result files are not published yet: read it again, backing off
     * from the shortest poll interval to the longest, and fail the part once the wait passes its
     * bound. Collecting now would resubmit (and pay again for) what the provider finished. A
     * cancel does not cut this short: the results are already paid for.
     */
    async function waitForResultFiles(batch: BatchSnapshot): Promise<void> {
      const now = Date.now();
      const first = state.filesWaitSince == null;
      state.filesWaitSince ??= now;
      const waitedSeconds = (now - state.filesWaitSince) / 1000;
      const limit = options.maxFilesWaitSeconds ?? DEFAULT_MAX_FILES_WAIT_SECONDS;
      const { completed, failed } = batch.requestCounts;
      if (waitedSeconds >= limit) {
        throw ApplicationFailure.nonRetryable(
          `part ${part}: batch ${batch.id} ended ${batch.status} with ${completed + failed} ` +
            `results, but the provider has published no result file for them after ${Math.round(waitedSeconds)} s`,
          'ResultFilesMissing',
        );
      }
      phase('awaiting-files');
      state.pollSeconds = first
        ? options.pollIntervalSeconds
        : Math.min(options.maxPollIntervalSeconds, (state.pollSeconds ?? 0) * 2);
      await sleep(state.pollSeconds * 1000, {
        summary: `${batch.status}, result files not published yet: read again in ${state.pollSeconds}s`,
      });
    }

    /** Downloads and classifies a finished batch (or, with null, the never-submitted rest). */
    async function collect(batch: BatchSnapshot | null) {
      phase('downloading');
      const files = batch
        ? await bulk.download.executeWithOptions(
            { summary: `download the results of ${batch.id} (${batch.status})` },
            [{ runId, part, attempt: state.attempt, batchId: batch.id }],
          )
        : { outputPath: null, errorPath: null };
      const lastAttempt =
        state.attempt >= options.maxAttempts ||
        state.cancelRequested ||
        batch?.status === 'cancelled';
      const classify = (last: boolean) =>
        bulk.classify.executeWithOptions({ summary: `classify ${what()}` }, [
          {
            runId,
            part,
            attempt: state.attempt,
            inputPath: state.inputPath,
            outputPath: files.outputPath,
            errorPath: files.errorPath,
            batchId: batch?.id ?? '',
            batchStatus: batch?.status ?? 'cancelled',
            lastAttempt: last,
          },
        ]);
      let result = await classify(lastAttempt);
      if (input.options.budget && batch) {
        const reply = await askBudget(input.options.budget, result);
        if (reply && !reply.granted) {
          // Classifying again as the last attempt makes the leftovers final; it rewrites the
          // same results file, so nothing is counted twice.
          result = await classify(true);
          state.outcome.budgetStop = reply.reason ?? 'the budget would be passed';
        }
      }
      if (batch) recordBatch(batch);
      const o = state.outcome;
      o.resultsPaths.push(result.resultsPath);
      for (const k of ['succeeded', 'failed', 'expired', 'cancelled'] as const) {
        o.counts[k] += result.counts[k];
      }
      for (const k of ['input_tokens', 'output_tokens', 'total_tokens'] as const) {
        o.usage[k] += result.usage[k];
      }
      state.progress.counts = { ...o.counts };
      return { retryPath: result.retry > 0 ? result.retryPath : null, retry: result.retry };
    }

    function finish(): PartOutcome {
      state.outcome.cancelled = state.cancelRequested;
      phase('done');
      return state.outcome;
    }
  });
}
