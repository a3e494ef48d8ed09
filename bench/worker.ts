// A Nightshift worker in its own process, so its peak RSS and CPU are its own. Started by the
// harness with IPC: on the message 'stop' it drains, reports its resource usage and exits.
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { loadConfig } from '../src/config.js';
import { createProviders } from '../src/providers/registry.js';
import { openStore } from '../src/store/index.js';
import { createNightshiftWorker } from '../src/worker.js';

export interface WorkerReport {
  maxRssBytes: number;
  cpuSeconds: number;
}

const { TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, NIGHTSHIFT_TASK_QUEUE, NIGHTSHIFT_HOME } =
  process.env;
const { OPENAI_BASE_URL } = process.env;
if (!TEMPORAL_ADDRESS || !NIGHTSHIFT_TASK_QUEUE || !NIGHTSHIFT_HOME || !OPENAI_BASE_URL) {
  throw new Error(
    'bench worker: TEMPORAL_ADDRESS, NIGHTSHIFT_TASK_QUEUE, NIGHTSHIFT_HOME and OPENAI_BASE_URL are required',
  );
}

Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address: TEMPORAL_ADDRESS });
const worker = await createNightshiftWorker({
  connection,
  namespace: TEMPORAL_NAMESPACE ?? 'default',
  taskQueue: NIGHTSHIFT_TASK_QUEUE,
  activities: createActivities({
    providers: await createProviders({
      openai: { apiKey: 'sk-emulator', baseURL: OPENAI_BASE_URL },
    }),
    // The local store under NIGHTSHIFT_HOME, or the one NIGHTSHIFT_STORE names.
    store: await openStore(loadConfig()),
  }),
});
process.on('message', (message) => {
  if (message === 'stop') worker.shutdown();
});
const running = worker.run();
process.send?.('ready');
await running;
await connection.close();
const usage = process.resourceUsage();
const report: WorkerReport = {
  maxRssBytes: usage.maxRSS * 1024,
  cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
};
process.send?.(report, () => process.disconnect());
