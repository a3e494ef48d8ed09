import { DefaultLogger, type LogEntry, type LogLevel, Runtime } from '@temporalio/worker';
import { pino } from 'pino';

let installed = false;

export interface WorkerRuntimeOptions {
  /** Serve Prometheus metrics (the SDK's and Nightshift's) on this port at /metrics. */
  metricsPort?: number;
  /** One JSON object per log line (run, part and batch ids included), for log pipelines. */
  jsonLogs?: boolean;
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
    const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    methods[entry.level]({ time, ...entry.meta }, entry.message);
  };
}

/**
 * Sets up the Temporal runtime of a worker process, once: log level and format, metrics, and
 * no signal handling of its own (the command stops its stack in order on Ctrl-C).
 * NIGHTSHIFT_DEBUG=1 brings back the SDK's INFO chatter.
 */
export function installWorkerRuntime(options: WorkerRuntimeOptions = {}): void {
  if (installed) return;
  installed = true;
  const level: LogLevel =
    process.env.NIGHTSHIFT_DEBUG === '1' || options.jsonLogs ? 'INFO' : 'WARN';
  Runtime.install({
    logger: new DefaultLogger(level, options.jsonLogs ? jsonLogFunction() : undefined),
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
