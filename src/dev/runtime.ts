import { formatWithOptions } from 'node:util';
import { type LogEntry, type LogLevel, Runtime } from '@temporalio/worker';
import { pino } from 'pino';
import { WorkerLogger } from './worker-logger.js';

let installed = false;

export interface WorkerRuntimeOptions {
  /** Serve Prometheus metrics (the SDK's and Nightshift's) on this port at /metrics. */
  metricsPort?: number;
  /** One JSON object per log line (run, part and batch ids included), for log pipelines. */
  jsonLogs?: boolean;
  /** NIGHTSHIFT_DEBUG: the SDK's INFO chatter and every failure in full. */
  debug?: boolean;
}

const isoTime = (nanos: bigint) => new Date(Number(nanos / 1_000_000n)).toISOString();

/**
 * The SDK's text format (`<time> [LEVEL] message {meta}`), with colours only where stderr is a
 * terminal that shows them: the SDK's own choice follows FORCE_COLOR into files and pipes.
 */
function textLogFunction(): (entry: LogEntry) => void {
  const colors = process.stderr.isTTY && process.stderr.hasColors();
  return ({ level, message, meta, timestampNanos }) => {
    const head = `${isoTime(timestampNanos)} [${level}] ${message}`;
    process.stderr.write(
      meta === undefined ? `${head}\n` : `${head} ${formatWithOptions({ colors }, meta)}\n`,
    );
  };
}

function jsonLogFunction(): (entry: LogEntry) => void {
  const logger = pino({ level: 'trace', base: undefined, timestamp: false });
  const methods: Record<LogLevel, pino.LogFn> = {
    TRACE: logger.trace.bind(logger),
    DEBUG: logger.debug.bind(logger),
    INFO: logger.info.bind(logger),
    WARN: logger.warn.bind(logger),
    ERROR: logger.error.bind(logger),
  };
  return (entry) => {
    methods[entry.level]({ time: isoTime(entry.timestampNanos), ...entry.meta }, entry.message);
  };
}

/**
 * Sets up the Temporal runtime of a worker process, once: log level and format, metrics, and
 * no signal handling of its own (the command stops its stack in order on Ctrl-C). Expected
 * retries are one line each; NIGHTSHIFT_DEBUG=1 brings back the SDK's INFO chatter and its full
 * account of every failure.
 */
export function installWorkerRuntime(options: WorkerRuntimeOptions = {}): void {
  if (installed) return;
  installed = true;
  const debug = options.debug ?? false;
  const level: LogLevel = debug || options.jsonLogs ? 'INFO' : 'WARN';
  Runtime.install({
    logger: new WorkerLogger(level, options.jsonLogs ? jsonLogFunction() : textLogFunction(), {
      debug,
      fields: options.jsonLogs,
    }),
    shutdownSignals: [],
    ...(options.metricsPort !== undefined
      ? {
          telemetryOptions: {
            metrics: { prometheus: { bindAddress: `0.0.0.0:${options.metricsPort}` } },
          },
        }
      : {}),
  });
}
