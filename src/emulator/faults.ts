import { badRequest } from './errors.js';
import { type Random, seededRandom } from './random.js';
import {
  ENDPOINT_NAMES,
  type EndpointName,
  FAULT_KINDS,
  type FaultKind,
  type FaultRule,
  type FaultStat,
} from './types.js';

const BATCH_KINDS: ReadonlySet<FaultKind> = new Set([
  'batch_token_limit',
  'expire_at_fraction',
  'line_error',
  'late_file_ids',
  'invalid_output',
  'stuck_finalizing',
  'stall_at_fraction',
  'stuck_validating',
]);

/** The endpoints that stream a file's content, which `truncate` cuts short. */
const DOWNLOADS: ReadonlySet<EndpointName> = new Set(['files.content', 'gemini.files.download']);

/** What a newly created batch has been dealt by the batch-level rules. */
export interface BatchFaults {
  tokenLimit: boolean;
  expireAtFraction: number | null;
  lineError: { statusCode: number; lineRate: number } | null;
  /** Share of successes whose output misses its schema (absent in older state). */
  invalidOutput?: { lineRate: number };
  /** Retrieves of the ended batch still to answer without file ids (absent in older state). */
  hiddenFileIdReads?: number;
  /** Milliseconds the batch stays in `finalizing` beyond the usual (absent: none). */
  extraFinalizingMs?: number;
  /** Milliseconds the batch stays in `validating` beyond the usual (absent: none). */
  extraValidatingMs?: number;
  /** Share of requests after which the batch makes no more progress (absent: none). */
  stallAtFraction?: number;
}

interface ActiveRule {
  id: string;
  rule: FaultRule;
  fired: number;
  random: Random;
}

export class FaultSet {
  private rules: ActiveRule[] = [];
  private nextId = 1;

  constructor(private readonly seed: number) {}

  add(input: unknown): string {
    const rule = parseRule(input);
    const id = `fault_${this.nextId++}`;
    // Each rule draws from its own stream so adding one rule never shifts another's outcomes.
    this.rules.push({ id, rule, fired: 0, random: seededRandom(`${this.seed}:${id}`) });
    return id;
  }

  clear(): void {
    this.rules = [];
  }

  /** The HTTP-level fault (if any) that hits this call; consumes one of its `times`. */
  takeHttpFault(endpoint: EndpointName): FaultRule | undefined {
    return this.rules.find((active) => {
      const { kind, endpoint: target } = active.rule;
      if (BATCH_KINDS.has(kind)) return false;
      if (target !== undefined && target !== '*' && target !== endpoint) return false;
      if (kind === 'truncate' && !DOWNLOADS.has(endpoint)) return false;
      return this.fire(active);
    })?.rule;
  }

  /** The batch-level faults dealt to a batch made by the `createdBy` call. */
  takeBatchFaults(createdBy: EndpointName, attempt: string | undefined): BatchFaults {
    const faults: BatchFaults = { tokenLimit: false, expireAtFraction: null, lineError: null };
    for (const active of this.rules) {
      const { kind, endpoint, attempts } = active.rule;
      if (!BATCH_KINDS.has(kind)) continue;
      if (endpoint !== undefined && endpoint !== '*' && endpoint !== createdBy) continue;
      if (attempts && !attempts.some((a) => String(a) === attempt)) continue;
      if (!this.fire(active)) continue;
      if (kind === 'batch_token_limit') faults.tokenLimit = true;
      if (kind === 'expire_at_fraction') faults.expireAtFraction = active.rule.fraction ?? 0.5;
      if (kind === 'stall_at_fraction') faults.stallAtFraction = active.rule.fraction ?? 0.5;
      if (kind === 'late_file_ids') faults.hiddenFileIdReads = active.rule.reads ?? 1;
      if (kind === 'stuck_finalizing') faults.extraFinalizingMs = active.rule.delayMs ?? 60_000;
      if (kind === 'stuck_validating') faults.extraValidatingMs = active.rule.delayMs ?? 60_000;
      if (kind === 'invalid_output')
        faults.invalidOutput = { lineRate: active.rule.lineRate ?? 0.1 };
      if (kind === 'line_error') {
        faults.lineError = {
          statusCode: active.rule.statusCode ?? 500,
          lineRate: active.rule.lineRate ?? 0.1,
        };
      }
    }
    return faults;
  }

  snapshot(): FaultStat[] {
    return this.rules.map(({ id, rule, fired }) => ({ id, rule, fired }));
  }

  private fire(active: ActiveRule): boolean {
    const { times, rate } = active.rule;
    if (times !== undefined && active.fired >= times) return false;
    if (rate !== undefined && active.random() >= rate) return false;
    active.fired++;
    return true;
  }
}

function parseRule(input: unknown): FaultRule {
  if (typeof input !== 'object' || input === null) throw badRequest('A fault rule is an object.');
  const rule = input as FaultRule;
  if (!FAULT_KINDS.includes(rule.kind)) {
    throw badRequest(`Unknown fault kind; expected one of ${FAULT_KINDS.join(', ')}.`, 'kind');
  }
  if (
    rule.endpoint !== undefined &&
    rule.endpoint !== '*' &&
    !ENDPOINT_NAMES.includes(rule.endpoint)
  ) {
    throw badRequest(`Unknown endpoint; expected '*' or one of ${ENDPOINT_NAMES.join(', ')}.`);
  }
  if (rule.reads !== undefined && !(Number.isInteger(rule.reads) && rule.reads >= 0)) {
    throw badRequest("'reads' must be a whole number of at least 0.", 'reads');
  }
  for (const key of ['rate', 'fraction', 'lineRate'] as const) {
    const value = rule[key];
    if (value !== undefined && !(value >= 0 && value <= 1)) {
      throw badRequest(`'${key}' must be between 0 and 1.`, key);
    }
  }
  return rule;
}
