// What `dev`, `demo` and `worker` say about where batches go, before they go anywhere.
import { join } from 'node:path';
import { DEFAULT_TASK_QUEUE } from '../config.js';
import type { OpenAIConfig } from '../providers/openai/client.js';
import type { ProviderConfigs } from '../providers/registry.js';
import { type Paint, plain } from '../terminal.js';
import { DEV_PORT } from './ports.js';

/** Where the official SDK sends requests when OPENAI_BASE_URL is not set. */
const OPENAI_API_URL = 'https://api.openai.com/v1';

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

/**
 * The endpoint a worker with this configuration calls, and what that means for the bill. A key
 * is not enough to tell: OPENAI_BASE_URL may name a proxy, a gateway or a local server.
 */
export function providerEndpoint(openai: OpenAIConfig): string {
  const url = openai.baseURL ?? OPENAI_API_URL;
  if (URL.canParse(url) && new URL(url).hostname === 'api.openai.com') {
    return `${url}, the real OpenAI Batch API (OPENAI_API_KEY is set): batches are billed`;
  }
  return (
    `${url} (from OPENAI_BASE_URL: not OpenAI's own endpoint; whether batches are billed ` +
    'depends on what serves it)'
  );
}

/**
 * Where each provider with credentials sends batches: one line each, for `dev` and `worker`.
 * `openai-compatible` is not named apart: it is OPENAI_BASE_URL, which the OpenAI line names.
 */
export function providerEndpoints(providers: ProviderConfigs): string[] {
  const { openai, azure, anthropic, gemini } = providers;
  return [
    ...(openai ? [providerEndpoint(openai)] : []),
    ...(anthropic
      ? [`${anthropic.baseURL ?? 'https://api.anthropic.com'}, Anthropic: batches are billed`]
      : []),
    ...(gemini
      ? [
          `${gemini.baseUrl ?? 'https://generativelanguage.googleapis.com'}, Gemini: batches are billed`,
        ]
      : []),
    ...(azure
      ? [`${azure.endpoint}, Azure OpenAI (AZURE_OPENAI_ENDPOINT): batches are billed`]
      : []),
  ];
}

export interface DevBannerInput {
  /** Temporal's frontend and UI, as the stack started them. */
  address: string;
  uiUrl: string;
  home: string;
  taskQueue: string;
  /** The stack's own emulator, when the worker sends batches to it. */
  emulatorUrl: string | null;
  /** What the worker calls otherwise. */
  providers: ProviderConfigs;
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
    ...(emulatorUrl
      ? [`Emulator     ${emulatorUrl}/v1`]
      : providerEndpoints(stack.providers).map((line) => paint('bold', `Batch API    ${line}`))),
    `Worker       task queue "${taskQueue}", artifacts in ${join(home, 'runs')}`,
    '',
    'Submit from another terminal:',
    `  ${env}${queue}npx nightshift submit requests.jsonl --wait --out ./out`,
    '',
    'Nightshift dev stack ready. Ctrl-C stops everything.',
  ].join('\n');
}
