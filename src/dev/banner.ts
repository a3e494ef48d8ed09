// What `dev`, `demo` and `worker --emulator` say about where batches go.
import { join } from 'node:path';
import { DEFAULT_TASK_QUEUE } from '../config.js';
import { type Paint, plain } from '../terminal.js';
import { DEV_PORT } from './ports.js';

/** Said loudly: nothing this stack does reaches OpenAI. */
export function emulatorBanner(emulatorUrl: string, why = 'OPENAI_API_KEY is not set'): string {
  const rule = '!'.repeat(72);
  return [
    rule,
    `!! ${why}: using the Batch API EMULATOR.`,
    '!! No real requests are made, nothing is billed, responses are fake.',
    `!! Emulator: ${emulatorUrl}/v1 (stats: ${emulatorUrl}/_emulator/stats)`,
    rule,
  ].join('\n');
}

export interface DevBannerInput {
  /** Temporal's frontend and UI, as the stack started them. */
  address: string;
  uiUrl: string;
  home: string;
  taskQueue: string;
  /** The stack's own emulator, when the worker sends batches to it. */
  emulatorUrl: string | null;
}

/** `nightshift dev`'s banner: what runs where, and how to submit to it. One item a line. */
export function devBanner(stack: DevBannerInput, paint: Paint = plain): string {
  const { address, home, taskQueue, emulatorUrl } = stack;
  const env = address === `127.0.0.1:${DEV_PORT}` ? '' : `TEMPORAL_ADDRESS=${address} `;
  const queue = taskQueue === DEFAULT_TASK_QUEUE ? '' : `NIGHTSHIFT_TASK_QUEUE=${taskQueue} `;
  return [
    ...(emulatorUrl ? [paint('yellow', emulatorBanner(emulatorUrl))] : []),
    `Temporal     ${address} (namespace default, persisted in ${join(home, 'temporal.db')})`,
    `Temporal UI  ${stack.uiUrl}  (find runs with: NightshiftStatus="running")`,
    emulatorUrl
      ? `Emulator     ${emulatorUrl}/v1`
      : paint(
          'bold',
          'OpenAI       the real Batch API (OPENAI_API_KEY is set): batches are billed',
        ),
    `Worker       task queue "${taskQueue}", artifacts in ${join(home, 'runs')}`,
    '',
    'Submit from another terminal:',
    `  ${env}${queue}npx nightshift submit requests.jsonl --wait --out ./out`,
    '',
    'Nightshift dev stack ready. Ctrl-C stops everything.',
  ].join('\n');
}
