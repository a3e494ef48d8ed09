import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { LocalArtifactStore } from '../../src/artifacts.js';
import { Nightshift, type SubmitOptions } from '../../src/client.js';
import {
  type Emulator,
  type EmulatorOptions,
  expectedUsage,
  startEmulator,
} from '../../src/emulator/index.js';
import { createOpenAIClient } from '../../src/openai-client.js';
import { createNightshiftWorker } from '../../src/worker.js';
import type { Usage } from '../../workflows/types.js';
import { recordHistories } from './histories.js';

/** Options that keep a run on the emulator quick: sub-second polls, small parts. */
export const FAST: SubmitOptions = {
  pollIntervalSeconds: 0.1,
  maxPollIntervalSeconds: 0.5,
};

export interface ChatLineOptions {
  model?: string;
  prefix?: string;
}

/** Chat-completion request lines with ids r-1…r-n. */
export function chatLines(
  n: number,
  { model = 'gpt-4o-mini', prefix = 'r' }: ChatLineOptions = {},
) {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      custom_id: `${prefix}-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model,
        messages: [{ role: 'user', content: `Classify the sentiment of review number ${i + 1}.` }],
        max_tokens: 16,
      },
    }),
  );
}

/** What the emulator will report as usage for these request lines, summed. */
export function expectedUsageOf(lines: string[]): Usage {
  return lines
    .map((l) => JSON.parse(l))
    .map((l) => expectedUsage(l.url, l.body, l.custom_id))
    .reduce((a, u) => ({
      input_tokens: a.input_tokens + u.input_tokens,
      output_tokens: a.output_tokens + u.output_tokens,
      total_tokens: a.total_tokens + u.total_tokens,
    }));
}

/**
 * The parts a lifecycle test needs, all real: a Temporal server (given), the Batch API emulator
 * over HTTP, a Nightshift worker whose activities reach it through the official SDK, an
 * artifact store in a temp folder, and the client library.
 */
export class Stack {
  private workerRun: Promise<void> | null = null;
  worker: Worker | null = null;

  private constructor(
    readonly env: TestWorkflowEnvironment,
    readonly emulator: Emulator,
    readonly home: string,
    readonly store: LocalArtifactStore,
    readonly nightshift: Nightshift,
    readonly taskQueue: string,
    private readonly dataConverter?: DataConverter,
  ) {}

  static async start(
    env: TestWorkflowEnvironment,
    taskQueue: string,
    emulatorOptions: EmulatorOptions = {},
    dataConverter?: DataConverter,
  ): Promise<Stack> {
    const home = await mkdtemp(join(tmpdir(), 'nightshift-test-'));
    const emulator = await startEmulator({
      timing: { validatingMs: 20, perRequestMs: 1, finalizingMs: 20, cancellingMs: 20 },
      ...emulatorOptions,
    });
    const store = new LocalArtifactStore(home);
    const client = dataConverter
      ? new Client({ connection: env.connection, namespace: env.namespace, dataConverter })
      : env.client;
    const nightshift = new Nightshift(client, taskQueue, store);
    const stack = new Stack(env, emulator, home, store, nightshift, taskQueue, dataConverter);
    await stack.startWorker();
    return stack;
  }

  async startWorker(): Promise<void> {
    const openai = createOpenAIClient({
      apiKey: 'sk-emulator',
      baseURL: `${this.emulator.url}/v1`,
      maxRetries: 0,
    });
    this.worker = await createNightshiftWorker({
      connection: this.env.nativeConnection,
      namespace: this.env.namespace ?? 'default',
      taskQueue: this.taskQueue,
      activities: createActivities({ openai, store: this.store }),
      dataConverter: this.dataConverter,
    });
    this.workerRun = this.worker.run();
  }

  async stopWorker(): Promise<void> {
    this.worker?.shutdown();
    await this.workerRun;
    this.worker = null;
    this.workerRun = null;
  }

  async writeInput(lines: string[], name = 'requests.jsonl'): Promise<string> {
    const path = join(this.home, name);
    await writeFile(path, `${lines.join('\n')}\n`);
    return path;
  }

  async submit(lines: string[], options: SubmitOptions = {}) {
    const path = await this.writeInput(lines);
    const { run } = await this.nightshift.submit(path, { ...FAST, ...options });
    return run;
  }

  async results(runId: string) {
    const out = [];
    for await (const line of this.nightshift.run(runId).results()) out.push(line);
    return out;
  }

  /** Saves the run's histories (see recordHistories) under `name`. */
  recordHistories(name: string, runId: string): Promise<void> {
    return recordHistories(this.env.client, runId, name);
  }

  async close(): Promise<void> {
    await this.stopWorker();
    await this.emulator.close();
  }
}
