import { ApplicationFailure, type LogLevel, type LogMetadata } from '@temporalio/common';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { HEALING_FAILURES } from '../../workflows/contract.js';
import type { AttemptFields } from '../activity-log.js';

/** A connection that dropped or timed out mid-transfer, as Node and its fetch (undici) say it. */
const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The error, among this one and its causes, that says the connection dropped. */
function droppedConnection(error: unknown): (Error & { code: string }) | undefined {
  for (let e = error; e instanceof Error; e = e.cause) {
    const { code } = e as { code?: unknown };
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) {
      return e as Error & { code: string };
    }
  }
  return undefined;
}

/** One line, however many the provider's message had. */
const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

/** Why an activity failed, in a line, if Nightshift expects that failure and retries it. */
function expectedRetryReason(error: unknown): string | null {
  if (error instanceof ApplicationFailure) {
    const expected = !error.nonRetryable && HEALING_FAILURES.has(error.type ?? '');
    return expected ? oneLine(`${error.type}: ${error.message}`) : null;
  }
  const dropped = droppedConnection(error);
  return dropped ? oneLine(`connection lost: ${dropped.message} (${dropped.code})`) : null;
}

type RetryMeta = AttemptFields & { activityType?: string; activity_attempt?: number };

/** `retrying download after try 2 — run r part 1 attempt 1 batch batch_1: TruncatedDownload: …` */
function retryLine(meta: RetryMeta, reason: string): string {
  const where = [
    meta.run_id && `run ${meta.run_id}`,
    meta.part !== undefined && `part ${meta.part}`,
    meta.attempt !== undefined && `attempt ${meta.attempt}`,
    meta.batch_id && `batch ${meta.batch_id}`,
  ].filter(Boolean);
  const what = `retrying ${meta.activityType ?? 'an activity'} after try ${meta.activity_attempt ?? '?'}`;
  return `${what}${where.length ? ` — ${where.join(' ')}` : ''}: ${reason}`;
}

export interface WorkerLoggerOptions {
  /** NIGHTSHIFT_DEBUG=1: every failure as the SDK logs it, in full. */
  debug?: boolean;
  /** JSON logs: the retry's fields go with its line, for log pipelines to filter on. */
  fields?: boolean;
}

/**
 * The SDK's logger, except that an activity failure Nightshift expects and retries is one line
 * (run, part, attempt, batch, reason) instead of the SDK's multi-line dump of the error, its
 * stack and the task token. Anything else, an unexpected failure first, is logged as the SDK does.
 */
export class WorkerLogger extends DefaultLogger {
  constructor(
    level: LogLevel,
    logFunction: ((entry: LogEntry) => void) | undefined,
    private readonly options: WorkerLoggerOptions = {},
  ) {
    super(level, logFunction);
  }

  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const reason =
      message === 'Activity failed' && !this.options.debug
        ? expectedRetryReason(meta?.error)
        : null;
    if (reason === null) {
      super.log(level, message, meta);
      return;
    }
    // The task token is an opaque credential for the task, of no use to whoever reads the log.
    const { error: _error, taskToken: _taskToken, ...fields } = meta ?? {};
    super.log(
      level,
      retryLine(fields, reason),
      this.options.fields ? { ...fields, reason } : undefined,
    );
  }
}
