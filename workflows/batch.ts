import {
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  metricMeter,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { addUsage, BATCH_DISCOUNT, emptyUsage, usageCostUsd } from '../src/pricing.js';
import {
  cancelBatch,
  classify,
  countTokens,
  createBatch,
  deleteProviderFiles,
  download,
  pollBatch,
  sendSync,
  syncPace,
  upload,
} from './activity-proxies.js';
import { addCounts, ENDED_BATCH_STATUSES, failures, zeroCounts } from './contract.js';
import { judgeHedge, type ProgressSince } from './deadline.js';
import {
  exceededSignal,
  grantSignal,
  probeSignal,
  releaseSignal,
  reserveSignal,
} from './ledger.js';
import { batchStateOf, classifyResultOf, downloadResultOf, partRefOf } from './legacy.js';
import {
  budgetReplySignal,
  budgetRequestSignal,
  cancelSignal,
  partProgressQuery,
  pollNowSignal,
} from './messages.js';
import { nextPollInterval } from './poll-interval.js';
import { pendingPart } from './progress.js';
import { DEFAULT_PROVIDER, type ProviderName } from './provider-names.js';
import { resultFilesPending } from './result-files.js';
import { NightshiftBatchIds } from './search-attributes.js';
import type { StatusSince } from './stuck.js';
import { statusSince, stuckBatch } from './stuck.js';
import type {
  ArtifactName,
  BatchEndpoint,
  BatchSnapshot,
  Budget,
  BudgetReply,
  ClassifyResult,
  HedgeRecord,
  PartOutcome,
  PartPhase,
  PartProgress,
  PartRef,
  RunOptions,
  Usage,
} from './types.js';

export type BatchWorkflowOptions = Pick<
  RunOptions,
  | 'provider'
  | 'maxAttempts'
  | 'pollIntervalSeconds'
  | 'maxPollIntervalSeconds'
  | 'maxFilesWaitSeconds'
  | 'metadata'
  | 'budget'
  | 'keepProviderFiles'
  | 'outputSchema'
  | 'cache'
  | 'stuckAfterSeconds'
  | 'deadline'
  | 'ledger'
>;

/** Everything a part needs to resume, carried across continue-as-new. */
export interface BatchState {
  /** Nightshift's resubmission round: 1, then one more for each batch of leftovers. */
  attempt: number;
  /** The JSONL this attempt submits: the whole part, then what is left to retry. */
  requests: ArtifactName;
  /** Requests submitted in this attempt. */
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
  /** The batch's state as last polled, and since when (absent in older histories). */
  statusSince?: StatusSince | null;
  /** The synchronous pace last measured (null: none; absent: not read yet). */
  syncPace?: number | null;
  /** The batch's progress when first seen in progress, for the deadline's forecast. */
  progressSince?: ProgressSince | null;
  /** Set once the batch was given up for the synchronous API, to meet the deadline. */
  hedge?: HedgeRecord | null;
  /** The attempt's input tokens, once counted for the ledger. */
  attemptTokens?: number | null;
  /** The ledger ticket the part holds or waits for (`<attempt>.<try>`), if any. */
  quotaTicket?: string | null;
  outcome: PartOutcome;
  progress: PartProgress;
}

export interface BatchWorkflowInput {
  runId: string;
  part: PartRef;
  endpoint: BatchEndpoint;
  /** The run's model (absent in parts started before providers needed it). */
  model?: string | null;
  options: BatchWorkflowOptions;
  state?: BatchState;
  /** History length at which a waiting part continues as new (default 2,000). */
  maxHistoryEvents?: number;
}

const MAX_TOKEN_LIMIT_RETRIES = 8;
/** Keeps each run of the chain small even where the server suggests continue-as-new late. */
const DEFAULT_MAX_HISTORY_EVENTS = 2_000;
const DEFAULT_MAX_FILES_WAIT_SECONDS = 3_600;

/**
 * One part in flight: its input, its state, and what signals left for the steps to read.
 * Every step below takes it explicitly; none closes over another's variables.
 */
interface Part {
  input: BatchWorkflowInput & { part: PartRef };
  /** The run's provider, its default applied once. */
  provider: ProviderName;
  state: BatchState;
  /** Set by the pollNow signal (webhooks, impatient users); cleared by the next nap. */
  pollNow: boolean;
  budgetReply: BudgetReply | null;
  /** The last ticket the ledger granted. */
  granted: string | null;
}

/**
 * One part of a run: upload → create → wait → download → classify, then again for what is
 * left, until everything is final or the attempts are spent.
 */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<PartOutcome> {
  const p = startPart(input);
  // Temporal's own cancel (UI, `handle.cancel()`) becomes the same request as the signal; the
  // work below runs non-cancellable so that clean-up can still call the provider.
  CancellationScope.current().cancelRequested.catch(() => {
    p.state.cancelRequested = true;
  });
  return CancellationScope.nonCancellable(async () => {
    try {
      return await runAttempts(p);
    } catch (err) {
      // A part that fails for good gives its ledger reservation back to the other runs.
      await releaseTokens(p, null);
      throw err;
    }
  });
}

function startPart(workflowInput: BatchWorkflowInput): Part {
  const input = { ...workflowInput, part: partRefOf(workflowInput.part) };
  const state = input.state ? batchStateOf(input.state) : initialState(input.part);
  const provider = input.options.provider ?? DEFAULT_PROVIDER;
  const p: Part = { input, provider, state, pollNow: false, budgetReply: null, granted: null };
  setHandler(grantSignal, ({ ticket }) => {
    p.granted = ticket;
  });
  // The ledger checks now and then that its holders still exist: being here is the answer.
  setHandler(probeSignal, () => {});
  setHandler(budgetReplySignal, (reply) => {
    p.budgetReply = reply;
  });
  setHandler(partProgressQuery, () => p.state.progress);
  setHandler(pollNowSignal, () => {
    p.pollNow = true;
  });
  setHandler(cancelSignal, () => {
    p.state.cancelRequested = true;
  });
  return p;
}

function initialState(part: PartRef): BatchState {
  return {
    attempt: 1,
    requests: part.artifact,
    attemptRequests: part.requests,
    tries: 0,
    fileId: null,
    batchId: null,
    cancelRequested: false,
    cancelSent: false,
    pollSeconds: null,
    outcome: {
      part: part.index,
      results: [],
      batches: [],
      counts: zeroCounts(),
      usage: emptyUsage(),
      cancelled: false,
    },
    progress: pendingPart(part, 1),
  };
}

async function runAttempts(p: Part): Promise<PartOutcome> {
  const { state } = p;
  for (;;) {
    if (state.cancelRequested && !state.batchId) {
      // Nothing running at the provider: what was not submitted is cancelled as it stands.
      await collectAttempt(p, null);
      return finish(p);
    }
    const fileId = state.fileId ?? (await submitAttempt(p));
    // A cancel that arrived during the upload must not create a batch: its requests would be
    // processed, and billed, before the cancel reached the provider.
    if (state.cancelRequested && !state.batchId && patched('no-batch-after-cancelled-upload')) {
      continue;
    }
    if (!state.batchId && !(await reserveTokens(p))) continue;
    const batch = await waitForBatch(p, state.batchId ?? (await createAttemptBatch(p, fileId)));
    await releaseTokens(p, batch);
    if (batch.status === 'failed') {
      await backOffTokenLimit(p, batch);
      continue;
    }
    // A cancel that lands after classify scheduled a retry still loops once: the next pass
    // records the leftovers as cancelled instead of submitting them.
    const leftovers = await collectAttempt(p, batch);
    if (leftovers && state.hedge) {
      await syncAttempt(p, leftovers);
      return finish(p);
    }
    if (!leftovers) return finish(p);
    Object.assign(state, {
      attempt: state.attempt + 1,
      requests: leftovers.requests,
      attemptRequests: leftovers.count,
      tries: 0,
      fileId: null,
      batchId: null,
      cancelSent: false,
      pollSeconds: null,
      progressSince: null,
      attemptTokens: null,
    });
  }
}

/**
 * With a ledger, waits for it to grant the batch's input tokens (counted once per attempt).
 * Returns false when a cancel came first: the ticket is given back, and nothing is created.
 */
async function reserveTokens(p: Part): Promise<boolean> {
  const { state, input } = p;
  const { ledger } = input.options;
  if (!ledger) return true;
  const ticket = `${state.attempt}.${state.tries}`;
  if (state.quotaTicket !== ticket) {
    state.attemptTokens ??= await countTokens.executeWithOptions(
      { summary: `count the input tokens of ${what(p)}` },
      [{ runId: input.runId, requests: state.requests }],
    );
    const holder = workflowInfo().workflowId;
    try {
      await getExternalWorkflowHandle(ledger.workflowId).signal(reserveSignal, {
        holder,
        ticket,
        tokens: state.attemptTokens,
        runId: input.runId,
        part: input.part.index,
        since: new Date().toISOString(),
        // A batch the provider refused for its limit goes first again.
        ...(state.tries > 0 ? { front: true } : {}),
      });
    } catch {
      log.warn(`the ledger ${ledger.workflowId} is gone: creating the batch without it`);
      return true;
    }
    state.quotaTicket = ticket;
  }
  state.progress.quota = {
    ledger: ledger.workflowId,
    tokens: state.attemptTokens ?? 0,
    since: new Date().toISOString(),
  };
  phase(p, 'waiting-for-quota');
  await condition(() => p.granted === ticket || state.cancelRequested);
  delete state.progress.quota;
  if (p.granted === ticket) return true;
  await releaseTokens(p, null);
  return false;
}

/**
 * Gives the batch's tokens back to the ledger once it has ended, or tells it the provider
 * refused the batch for its enqueued-token limit (which lowers the ledger's idea of the limit).
 */
async function releaseTokens(p: Part, batch: BatchSnapshot | null): Promise<void> {
  const { state, input } = p;
  const { ledger } = input.options;
  if (!ledger || !state.quotaTicket) return;
  const claim = { holder: workflowInfo().workflowId, ticket: state.quotaTicket };
  const refused = batch?.errors.some((e) => e.code === 'token_limit_exceeded') ?? false;
  state.quotaTicket = null;
  await getExternalWorkflowHandle(ledger.workflowId)
    .signal(refused ? exceededSignal : releaseSignal, claim)
    .catch(() => log.warn(`the ledger ${ledger.workflowId} is gone: nothing to release`));
}

/** Marks the part's phase for queries (`nightshift status`) and the UI's current details. */
function phase(p: Part, next: PartPhase): void {
  const { state, input } = p;
  state.progress.phase = next;
  state.progress.attempt = state.attempt;
  const { stuck } = state.progress;
  setCurrentDetails(
    `part ${input.part.index} · attempt ${state.attempt}/${input.options.maxAttempts} · ${next}` +
      (state.batchId ? ` · ${state.batchId} (${state.progress.providerStatus ?? 'new'})` : '') +
      (stuck ? ` · **stuck** in ${stuck.status} since ${stuck.since}` : '') +
      (state.hedge
        ? ` · **deadline**: batch given up at ${state.hedge.at}, the rest goes synchronous`
        : '') +
      (state.progress.quota
        ? ` · waiting for ${state.progress.quota.tokens} enqueued tokens in ${state.progress.quota.ledger}`
        : ''),
  );
}

/** "part 2 attempt 1 (50,000 requests)": how steps name themselves in the UI. */
function what({ input, state }: Part): string {
  const requests = state.attemptRequests.toLocaleString('en-US');
  return `part ${input.part.index} attempt ${state.attempt} (${requests} requests)`;
}

/** Uploads the attempt's requests; returns the provider's file id. */
async function submitAttempt(p: Part): Promise<string> {
  const { input, state } = p;
  phase(p, 'uploading');
  state.fileId = await upload.executeWithOptions({ summary: `upload ${what(p)}` }, [
    {
      runId: input.runId,
      provider: p.provider,
      part: input.part.index,
      attempt: state.attempt,
      requests: state.requests,
    },
  ]);
  return state.fileId;
}

async function createAttemptBatch(p: Part, fileId: string): Promise<string> {
  const { input, state } = p;
  phase(p, 'creating');
  const batchId = await createBatch.executeWithOptions(
    { summary: `create the batch of ${what(p)}` },
    [
      {
        provider: p.provider,
        runId: input.runId,
        part: input.part.index,
        attempt: state.attempt,
        try: state.tries,
        fileId,
        endpoint: input.endpoint,
        model: input.model ?? null,
        metadata: input.options.metadata,
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
 * Polls the batch until it has ended with its result files published, napping between polls
 * (adaptive interval; a cancel or a pollNow signal cuts the nap short), and continues as new
 * when the history grows long.
 */
async function waitForBatch(p: Part, batchId: string): Promise<BatchSnapshot> {
  const { input, state } = p;
  const { provider } = p;
  phase(p, 'waiting');
  let lastDone = -1;
  for (;;) {
    if ((state.cancelRequested || state.hedge) && !state.cancelSent) {
      phase(p, 'cancelling');
      await cancelBatch.executeWithOptions({ summary: `cancel ${batchId}` }, [
        { provider, batchId },
      ]);
      state.cancelSent = true;
    }
    const batch = await pollBatch.executeWithOptions({ summary: `poll ${batchId}` }, [
      { provider, batchId },
    ]);
    state.progress.providerStatus = batch.status;
    state.progress.requestCounts = batch.requestCounts;
    watchForStuck(p, batch);
    const recheckAt = ENDED_BATCH_STATUSES.includes(batch.status)
      ? null
      : await judgeDeadline(p, batch);
    if (state.hedge && !state.cancelSent) continue;
    if (ENDED_BATCH_STATUSES.includes(batch.status)) {
      if (!resultFilesPending(batch)) {
        state.filesWaitSince = null;
        return batch;
      }
      await waitForResultFiles(p, batch);
    } else {
      phase(p, state.cancelSent ? 'cancelling' : 'waiting');
      lastDone = await napUntilNextPoll(p, batch, lastDone, recheckAt);
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
 * Flags the batch stuck once it has been in validating, finalizing or cancelling for longer than
 * the run's threshold: in the part's progress (status, the UI) at every poll, and in a log line
 * and a metric once per state.
 */
function watchForStuck(p: Part, batch: BatchSnapshot): void {
  const { state } = p;
  const now = Date.now();
  state.statusSince = statusSince(state.statusSince, batch.status, now);
  const stuck = stuckBatch(state.statusSince, now, p.input.options.stuckAfterSeconds);
  if (!stuck) {
    delete state.progress.stuck;
    return;
  }
  if (!state.progress.stuck) {
    log.warn(`batch ${batch.id} stuck in ${stuck.status} since ${stuck.since}`, {
      batchId: batch.id,
      part: p.input.part.index,
      status: stuck.status,
    });
    metricMeter
      .createCounter('nightshift_stuck_batches', 'batches', 'batches flagged stuck, by state')
      .add(1, { status: stuck.status, provider: p.provider });
  }
  state.progress.stuck = stuck;
}

/**
 * With a deadline, judges whether the batch can still be waited for (`deadline.ts`); gives it up
 * (`state.hedge`) when not. Returns when to judge again, if sooner than the next poll.
 */
async function judgeDeadline(p: Part, batch: BatchSnapshot): Promise<number | null> {
  const { state, input } = p;
  const { deadline } = input.options;
  if (!deadline || state.hedge || state.cancelRequested) {
    return null;
  }
  // Read once per part: the pace the last fallback to this provider and model measured.
  if (state.syncPace === undefined) {
    state.syncPace = await syncPace.executeWithOptions(
      { summary: 'read the measured synchronous pace, for the deadline' },
      [{ provider: p.provider, model: input.model ?? null }],
    );
  }
  const now = Date.now();
  const done = batch.requestCounts.completed + batch.requestCounts.failed;
  const remaining = Math.max(0, state.attemptRequests - done);
  if (batch.status === 'in_progress') state.progressSince ??= { at: now, done };
  const verdict = judgeHedge(
    deadline,
    {
      now,
      remaining,
      done,
      stuck: state.progress.stuck !== undefined,
      since: state.progressSince ?? null,
    },
    state.syncPace,
  );
  if (!verdict.hedge) return verdict.recheckAt;
  state.hedge = {
    part: input.part.index,
    at: new Date(now).toISOString(),
    unfinished: remaining,
    reason: verdict.reason,
  };
  state.progress.hedge = state.hedge;
  log.warn(
    `part ${input.part.index}: giving up batch ${batch.id} for the deadline: ${verdict.reason}`,
  );
  return null;
}

/**
 * Sleeps the adaptive poll interval, or less if a cancel or a pollNow signal comes, or the
 * deadline wants the batch judged again (`recheckAt`, workflow ms).
 */
async function napUntilNextPoll(
  p: Part,
  batch: BatchSnapshot,
  lastDone: number,
  recheckAt: number | null = null,
) {
  const { state, input } = p;
  const done = batch.requestCounts.completed + batch.requestCounts.failed;
  state.pollSeconds = nextPollInterval(
    state.pollSeconds,
    batch.status,
    { done, total: batch.requestCounts.total, changed: done !== lastDone },
    {
      minSeconds: input.options.pollIntervalSeconds,
      maxSeconds: input.options.maxPollIntervalSeconds,
    },
  );
  p.pollNow = false;
  const napMs =
    recheckAt === null
      ? state.pollSeconds * 1000
      : Math.max(1, Math.min(state.pollSeconds * 1000, recheckAt - Date.now()));
  await condition(() => p.pollNow || (state.cancelRequested && !state.cancelSent), napMs, {
    summary: `${batch.status} ${done}/${batch.requestCounts.total}: next poll in ${recheckAt === null ? state.pollSeconds : Math.round(napMs / 100) / 10}s`,
  });
  return done;
}

/**
 * The batch ended, but its result files are not published yet: read it again, backing off
 * from the shortest poll interval to the longest, and fail the part once the wait passes its
 * bound. Collecting now would resubmit (and pay again for) what the provider finished. A
 * cancel does not cut this short: the results are already paid for.
 */
async function waitForResultFiles(p: Part, batch: BatchSnapshot): Promise<void> {
  const { state, input } = p;
  const { options } = input;
  const now = Date.now();
  const first = state.filesWaitSince == null;
  state.filesWaitSince ??= now;
  const waitedSeconds = (now - state.filesWaitSince) / 1000;
  if (waitedSeconds >= (options.maxFilesWaitSeconds ?? DEFAULT_MAX_FILES_WAIT_SECONDS)) {
    const results = batch.requestCounts.completed + batch.requestCounts.failed;
    throw failures.ResultFilesMissing(
      `part ${input.part.index}: batch ${batch.id} ended ${batch.status} with ${results} ` +
        `results, but the provider has published no result file for them after ${Math.round(waitedSeconds)} s`,
    );
  }
  phase(p, 'awaiting-files');
  state.pollSeconds = first
    ? options.pollIntervalSeconds
    : Math.min(options.maxPollIntervalSeconds, (state.pollSeconds ?? 0) * 2);
  await sleep(state.pollSeconds * 1000, {
    summary: `${batch.status}, result files not published yet: read again in ${state.pollSeconds}s`,
  });
}

/**
 * A batch the provider failed: over the model's enqueued-token limit, it is created again once
 * the queue has had time to drain (backing off harder each time); any other failure is the
 * provider rejecting the file, final for the part.
 */
async function backOffTokenLimit(p: Part, batch: BatchSnapshot): Promise<void> {
  const { state, input } = p;
  const { options } = input;
  recordBatch(p, batch);
  if (!batch.errors.some((e) => e.code === 'token_limit_exceeded')) {
    const lines = batch.errors
      .slice(0, 10)
      .map((e) => (e.line === null ? e.message : `line ${e.line}: ${e.message}`));
    throw failures.BatchValidationFailed(
      `part ${input.part.index}: batch ${batch.id} failed validation: ${lines.join('; ')}`,
      { details: [batch.errors] },
    );
  }
  if (state.tries > MAX_TOKEN_LIMIT_RETRIES) {
    throw failures.TokenLimitExceeded(
      `part ${input.part.index}: batch still over the enqueued-token limit after ${state.tries} tries`,
    );
  }
  phase(p, 'backing-off');
  state.batchId = null;
  const backoffSeconds = Math.min(
    options.maxPollIntervalSeconds,
    options.pollIntervalSeconds * 2 ** state.tries,
  );
  // A cancel ends the wait: the next pass records the part as cancelled.
  await condition(() => state.cancelRequested, backoffSeconds * 1000, {
    summary: `token limit: create again in ${backoffSeconds}s`,
  });
}

/**
 * Downloads and classifies an ended batch (or, with null, the never-submitted rest), adds what
 * is final to the part's outcome, and returns the leftovers worth another attempt, if any.
 */
async function collectAttempt(p: Part, batch: BatchSnapshot | null) {
  const { state, input } = p;
  const { runId, options } = input;
  const ref = { runId, part: input.part.index, attempt: state.attempt };
  phase(p, 'downloading');
  const files = batch
    ? downloadResultOf(
        await download.executeWithOptions(
          { summary: `download the results of ${batch.id} (${batch.status})` },
          [{ ...ref, provider: p.provider, batchId: batch.id }],
        ),
      )
    : { output: null, errors: null };
  phase(p, 'classifying');
  const classifyAs = async (lastAttempt: boolean) =>
    classifyResultOf(
      await classify.executeWithOptions({ summary: `classify ${what(p)}` }, [
        {
          ...ref,
          requests: state.requests,
          ...files,
          batchId: batch?.id ?? '',
          batchStatus: batch?.status ?? 'cancelled',
          lastAttempt,
          provider: p.provider,
          ...(options.outputSchema ? { outputSchema: options.outputSchema } : {}),
          ...(options.cache ? { cache: true } : {}),
          ...(state.hedge ? { hedge: true } : {}),
        },
      ]),
    );
  // A batch given up for the deadline leaves its unfinished requests to the synchronous API,
  // whatever attempt it was.
  const hedged = state.hedge != null && !state.cancelRequested;
  let result = await classifyAs(
    hedged
      ? false
      : state.attempt >= options.maxAttempts ||
          state.cancelRequested ||
          batch?.status === 'cancelled',
  );
  await deleteAttemptFiles(p, batch);
  if (options.budget && batch) {
    const reply = await askBudget(p, options.budget, result, hedged ? 'sync' : 'batch');
    if (reply && !reply.granted) {
      // Classifying again as the last attempt makes the leftovers final; it rewrites the
      // same results file, so nothing is counted twice.
      result = await classifyAs(true);
      state.outcome.budgetStop = reply.reason ?? 'the budget would be passed';
    }
  }
  if (batch) recordBatch(p, batch, result);
  const { outcome } = state;
  outcome.results.push(result.results);
  addCounts(outcome.counts, result.counts);
  addUsage(outcome.usage, result.usage);
  state.progress.counts = { ...outcome.counts };
  return result.retry > 0 && result.retryRequests
    ? { requests: result.retryRequests, count: result.retry }
    : null;
}

/**
 * The deadline fallback: the leftovers of the batch given up go through the synchronous API as
 * one more attempt, whose answers classify like a batch's (their lines say `via: "sync"`). What
 * still fails stays failed: there is no time for another round.
 */
async function syncAttempt(p: Part, leftovers: { requests: ArtifactName; count: number }) {
  const { state, input } = p;
  const { options } = input;
  Object.assign(state, {
    attempt: state.attempt + 1,
    requests: leftovers.requests,
    attemptRequests: leftovers.count,
    fileId: null,
    batchId: null,
  });
  phase(p, 'syncing');
  const ref = { runId: input.runId, part: input.part.index, attempt: state.attempt };
  const sent = await sendSync.executeWithOptions(
    { summary: `send ${what(p)} through the synchronous API, for the deadline` },
    [
      {
        ...ref,
        provider: p.provider,
        requests: state.requests,
        model: input.model ?? null,
        concurrency: options.deadline?.syncConcurrency ?? 1,
      },
    ],
  );
  phase(p, 'classifying');
  const result = classifyResultOf(
    await classify.executeWithOptions({ summary: `classify ${what(p)}, answered synchronously` }, [
      {
        ...ref,
        requests: state.requests,
        output: sent.output,
        errors: null,
        batchId: '',
        batchStatus: 'completed',
        lastAttempt: true,
        provider: p.provider,
        via: 'sync',
        ...(options.outputSchema ? { outputSchema: options.outputSchema } : {}),
        ...(options.cache ? { cache: true } : {}),
      },
    ]),
  );
  // Tell the run's budget what the standard price cost.
  if (options.budget) await askBudget(p, options.budget, result, 'sync', 'sync');
  const { outcome } = state;
  outcome.results.push(result.results);
  addCounts(outcome.counts, result.counts);
  outcome.sync = {
    requests: leftovers.count,
    succeeded: result.counts.succeeded,
    usage: result.usage,
    rateLimited: sent.rateLimited,
    seconds: sent.seconds,
  };
  state.progress.counts = { ...outcome.counts };
}

/**
 * The attempt's results are in the store (downloaded and classified; a second classify reads
 * them there): its upload and its batch's output and error files are of no more use at the
 * provider, whose storage would otherwise grow with every run. Only now, since a token-limit
 * retry creates its next batch from the same upload. Runs started before this step existed
 * replay without it.
 */
async function deleteAttemptFiles(p: Part, batch: BatchSnapshot | null): Promise<void> {
  const { input, state } = p;
  const nothingThere = !state.fileId && !batch;
  if (input.options.keepProviderFiles || nothingThere || !patched('delete-provider-files')) return;
  await deleteProviderFiles.executeWithOptions(
    { summary: `delete the provider files of ${what(p)}` },
    [
      {
        runId: input.runId,
        provider: p.provider,
        part: input.part.index,
        attempt: state.attempt,
        inputFileId: state.fileId,
        batchId: batch?.id ?? null,
      },
    ],
  );
}

/**
 * Reports what the attempt cost to the run and, when there is something to resubmit, waits
 * for the run to say whether that fits the budget (the run sees every part's spending).
 */
async function askBudget(
  p: Part,
  budget: Budget,
  result: ClassifyResult,
  /** How the leftovers would go: as a batch, or synchronously at the standard price. */
  next: 'batch' | 'sync',
  /** How `result` was paid for. */
  paid: 'batch' | 'sync' = 'batch',
): Promise<BudgetReply | null> {
  // A part started on its own (by hand, in a test) has no run to ask.
  if (!workflowInfo().parent) return null;
  const { state } = p;
  const costOf = (u: Usage) => usageCostUsd(u, budget.inputUsdPerToken, budget.outputUsdPerToken);
  const spentUsd = costOf(result.usage) / (paid === 'sync' ? BATCH_DISCOUNT : 1);
  const succeeded = state.outcome.counts.succeeded + result.counts.succeeded;
  // Per request: what the part's successes cost so far, else the submit-time estimate.
  const perRequestUsd =
    succeeded > 0
      ? (costOf(state.outcome.usage) + costOf(result.usage)) / succeeded
      : (budget.usdPerRequest ?? 0);
  const retryUsd = (perRequestUsd * result.retry) / (next === 'sync' ? BATCH_DISCOUNT : 1);
  p.budgetReply = null;
  // The run, which may be the part's grandparent: a run of many parts starts them in groups.
  await getExternalWorkflowHandle(p.input.runId).signal(budgetRequestSignal, {
    part: p.input.part.index,
    attempt: state.attempt,
    spentUsd,
    retryUsd: result.retry > 0 ? retryUsd : 0,
    ...(next === 'sync' && result.retry > 0 ? { sync: { requests: result.retry } } : {}),
  });
  if (result.retry === 0) return null;
  await condition(() => p.budgetReply?.attempt === state.attempt);
  return p.budgetReply;
}

/** Records an ended batch; `result` is its classify's, absent for a batch that ran nothing. */
function recordBatch({ input, state }: Part, batch: BatchSnapshot, result?: ClassifyResult): void {
  state.outcome.batches.push({
    batch_id: batch.id,
    part: input.part.index,
    attempt: state.attempt,
    status: batch.status,
    request_counts: batch.requestCounts,
    ...(result?.invalidOutputs === undefined ? {} : { invalid_outputs: result.invalidOutputs }),
  });
}

function finish(p: Part): PartOutcome {
  p.state.outcome.cancelled = p.state.cancelRequested;
  if (p.state.hedge) p.state.outcome.hedge = p.state.hedge;
  phase(p, 'done');
  return p.state.outcome;
}
