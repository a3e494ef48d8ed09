import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/**
 * Quiets the worker's INFO chatter (NIGHTSHIFT_DEBUG=1 brings it back) and leaves signals to the
 * command: by default the SDK would shut workers down on Ctrl-C before the command can stop the
 * rest of its stack in order.
 */
export function installWorkerRuntime(): void {
  if (installed) return;
  installed = true;
  const level = process.env.NIGHTSHIFT_DEBUG === '1' ? 'INFO' : 'WARN';
  Runtime.install({ logger: new DefaultLogger(level), shutdownSignals: [] });
}
