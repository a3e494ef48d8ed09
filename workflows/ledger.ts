// The enqueued-token ledger: one long-lived workflow per provider, account and model, shared by
// every run. Providers cap the input tokens of the batches a model has enqueued at once; a part
// reserves its batch's tokens here before creating it and releases them once the batch has
// ended, so runs started together queue for the limit instead of failing on it. First come,
// first served: the head of the queue waits until it fits, and nothing behind it overtakes it,
// so no run starves. A `token_limit_exceeded` the provider answers anyway teaches the ledger a
// lower limit. State lives in the workflow: it survives workers and servers restarting, and it
// continues as new before its history grows long.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  log,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ProviderName } from './provider-names.js';

/** Whose enqueued tokens a ledger counts: the provider's limits are per account and model. */
export interface LedgerKey {
  provider: ProviderName;
  /** A name for the credentials' organization (`NIGHTSHIFT_QUOTA_ACCOUNT`, default `default`). */
  account: string;
  model: string;
}

export function ledgerWorkflowId({ provider, account, model }: LedgerKey): string {
  return `nightshift-ledger:${provider}:${account}:${model}`;
}

/** A part's claim on the limit, for one batch creation. */
export interface Reservation {
  /** The part's workflow id, which the grant is signalled to. */
  holder: string;
  /** The creation it is for (`<attempt>.<try>`): a part holds one at a time. */
  ticket: string;
  tokens: number;
  runId: string;
  part: number;
  /** ISO time it was asked for. */
  since: string;
}

export interface LedgerState {
  key: LedgerKey;
  /** The configured limit of enqueued input tokens (null: unlimited). */
  limit: number | null;
  /** A lower limit the provider taught it with a `token_limit_exceeded` (null: none). */
  learned: number | null;
  held: Reservation[];
  /** In the order they are served. */
  waiting: Reservation[];
  /** The latest grants, oldest first: the order parts were served in. */
  granted: { holder: string; ticket: string; tokens: number; at: string }[];
}

/** Part → ledger: hold `tokens` for my batch (`front`: again, after the provider refused it). */
export const reserveSignal = defineSignal<[Reservation & { front?: boolean }]>('reserveTokens');
/** Part → ledger: my batch has ended (or will not be created). */
export const releaseSignal = defineSignal<[{ holder: string; ticket: string }]>('releaseTokens');
/** Part → ledger: the provider refused my batch for its enqueued-token limit. */
export const exceededSignal =
  defineSignal<[{ holder: string; ticket: string }]>('tokenLimitExceeded');
/** Ledger → part: the reservation is granted; create the batch. */
export const grantSignal = defineSignal<[{ ticket: string }]>('tokensGranted');
/** Ledger → part: are you still there? (A closed workflow refuses the signal.) */
export const probeSignal = defineSignal('ledgerProbe');
/** `nightshift quota set`: the configured limit (null: unlimited); forgets what was learned. */
export const setLimitUpdate = defineUpdate<LedgerState, [{ limit: number | null }]>('setLimit');
export const ledgerQuery = defineQuery<LedgerState>('ledger');

const GRANTS_KEPT = 50;
/** How often, while parts wait, the ledger checks that the holders still exist. */
const PROBE_EVERY = '5 minutes';
const MAX_HISTORY_EVENTS = 5_000;

export interface LedgerInput {
  key: LedgerKey;
  /** Carried across continue-as-new. */
  state?: LedgerState;
}

export async function tokenLedgerWorkflow(input: LedgerInput): Promise<void> {
  const s: LedgerState = input.state ?? {
    key: input.key,
    limit: null,
    learned: null,
    held: [],
    waiting: [],
    granted: [],
  };
  setHandler(ledgerQuery, () => s);
  // Asked by a scheduled run whether the ledger exists: being here is the answer.
  setHandler(probeSignal, () => {});
  setHandler(setLimitUpdate, ({ limit }) => {
    s.limit = limit;
    s.learned = null;
    return s;
  });
  setHandler(reserveSignal, ({ front, ...reservation }) => {
    if (find(s, reservation)) return;
    if (front) s.waiting.unshift(reservation);
    else s.waiting.push(reservation);
  });
  setHandler(releaseSignal, (claim) => {
    remove(s, claim);
  });
  setHandler(exceededSignal, (claim) => {
    const held = heldTokens(s);
    if (!remove(s, claim)) return;
    s.learned = learnedLimit(s, held);
    log.warn(`enqueued-token limit of ${ledgerWorkflowId(s.key)} taken as ${s.learned}`);
  });

  for (;;) {
    const ready = await condition(() => canGrantHead(s) || historyIsLong(), PROBE_EVERY);
    if (!ready && s.waiting.length > 0) await dropGoneHolders(s);
    while (canGrantHead(s)) await grantHead(s);
    if (historyIsLong()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof tokenLedgerWorkflow>({ key: s.key, state: s });
    }
  }
}

function historyIsLong(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > MAX_HISTORY_EVENTS;
}

/** The limit in force: the configured one, or the lower one the provider taught. */
export function effectiveLimit(s: LedgerState): number {
  return Math.min(s.limit ?? Number.POSITIVE_INFINITY, s.learned ?? Number.POSITIVE_INFINITY);
}

export function heldTokens(s: LedgerState): number {
  return s.held.reduce((n, r) => n + r.tokens, 0);
}

/**
 * Whether the head of the queue fits now. One alone always does: a batch bigger than the limit
 * could never be granted otherwise, and the provider is the judge of it.
 */
export function canGrantHead(s: LedgerState): boolean {
  const head = s.waiting[0];
  if (!head) return false;
  return s.held.length === 0 || heldTokens(s) + head.tokens <= effectiveLimit(s);
}

/**
 * What a refusal teaches: the provider's limit is below what was held when it refused (`held`,
 * the refused batch included); a tenth less leaves room for its counting and ours to differ.
 */
export function learnedLimit(s: LedgerState, held: number): number {
  return Math.max(1, Math.floor(Math.min(effectiveLimit(s), held) * 0.9));
}

function find(s: LedgerState, { holder, ticket }: { holder: string; ticket: string }) {
  const same = (r: Reservation) => r.holder === holder && r.ticket === ticket;
  return s.held.find(same) ?? s.waiting.find(same);
}

function remove(s: LedgerState, claim: { holder: string; ticket: string }): boolean {
  const found = find(s, claim);
  if (!found) return false;
  s.held = s.held.filter((r) => r !== found);
  s.waiting = s.waiting.filter((r) => r !== found);
  return true;
}

/**
 * Gives back the tokens of parts whose workflow has closed without releasing them (terminated
 * by hand): a signal to a closed workflow fails.
 */
async function dropGoneHolders(s: LedgerState): Promise<void> {
  for (const held of [...s.held]) {
    try {
      await getExternalWorkflowHandle(held.holder).signal(probeSignal);
    } catch {
      log.warn(`${held.holder} is gone: its ${held.tokens} tokens go back to the others`);
      remove(s, held);
    }
  }
}

async function grantHead(s: LedgerState): Promise<void> {
  const head = s.waiting.shift() as Reservation;
  s.held.push(head);
  s.granted.push({
    holder: head.holder,
    ticket: head.ticket,
    tokens: head.tokens,
    at: new Date().toISOString(),
  });
  s.granted.splice(0, s.granted.length - GRANTS_KEPT);
  try {
    await getExternalWorkflowHandle(head.holder).signal(grantSignal, { ticket: head.ticket });
  } catch {
    // The part is gone (terminated): its tokens go back to the others.
    remove(s, head);
  }
}
