import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProviderName } from '../../workflows/provider-names.js';
import { artifactNames } from '../artifacts.js';
import { inputPathFor, Nightshift, newRunId } from '../client.js';
import { DEFAULT_TASK_QUEUE, loadConfig } from '../config.js';
import { emulatorBanner } from '../dev/banner.js';
import { DEV_PORT, onFreePorts, PortInUseError } from '../dev/ports.js';
import { untilStopSignal } from '../dev/signals.js';
import { type DevStack, startDevStack } from '../dev/stack.js';
import { PROVIDER_RULES } from '../providers/rules.js';
import { LocalArtifactStore } from '../store/local.js';
import { type TemplateOptions, type TemplateSource, writeTemplateRequests } from '../templates.js';
import { connectClient } from '../temporal/connection.js';
import { paintFor } from '../terminal.js';
import { followRun, formatSummary } from './display.js';

const REVIEWS = fileURLToPath(new URL('../../../examples/reviews.csv', import.meta.url));

/** Sentiment classification, a textbook batch job: many small independent requests. */
const DEMO_SOURCE: TemplateSource = {
  kind: 'records',
  path: REVIEWS,
  template:
    'Classify the sentiment of this review of a {{product}} as positive, negative or neutral. ' +
    'Answer with one word.\n\nReview: {{review}}',
};
const DEMO_OPTIONS: Omit<TemplateOptions, 'model'> = {
  system: 'You are a precise sentiment classifier.',
  maxTokens: 3,
  idField: 'id',
};

/** Slow enough to watch the bar move, fast enough to finish in seconds. */
const DEMO_TIMING = { perRequestMs: 20 };

async function startStack(): Promise<{ stack: DevStack; home: string; throwaway: boolean }> {
  const config = loadConfig();
  const options = {
    taskQueue: DEFAULT_TASK_QUEUE,
    providers: {},
    emulatorTiming: DEMO_TIMING,
    emulatorPerRequestMs: config.emulatorPerRequestMs,
  };
  const home = config.home;
  try {
    return { stack: await startDevStack({ ...options, home }), home, throwaway: false };
  } catch (err) {
    if (!(err instanceof PortInUseError)) throw err;
    console.error(`${err.message}\nRunning the demo on free ports, with a throwaway database.`);
    const tmp = await mkdtemp(join(tmpdir(), 'nightshift-demo-'));
    return {
      stack: await onFreePorts((ports) => startDevStack({ ...options, home: tmp, ...ports })),
      home: tmp,
      throwaway: true,
    };
  }
}

async function runDemo(stack: DevStack, home: string, provider: ProviderName): Promise<string> {
  const store = new LocalArtifactStore(home);
  const nightshift = new Nightshift(
    await connectClient({ address: stack.address, namespace: 'default' }),
    DEFAULT_TASK_QUEUE,
    store,
  );
  try {
    const id = newRunId().replace(/^run-/, 'demo-');
    const input = await inputPathFor(home, id);
    const { templateModel: model } = PROVIDER_RULES[provider];
    const n = await writeTemplateRequests(DEMO_SOURCE, { ...DEMO_OPTIONS, model }, input, {
      store,
      runId: id,
    });
    console.log(
      `\nBuilt ${n} sentiment-classification requests (${provider}, ${model}) from ` +
        `${relative(process.cwd(), REVIEWS)} with a template; submitting run ${id}…`,
    );
    const { run } = await nightshift.submit(input, {
      id,
      provider,
      pollIntervalSeconds: 0.1,
      maxPollIntervalSeconds: 0.5,
      maxRequestsPerBatch: 100,
    });
    const summary = await followRun(run, 200);
    console.log(`\n${formatSummary(summary)}`);
    console.log(`\nResults      ${store.path(id, summary.results_path)}`);
    console.log(`Summary      ${store.path(id, artifactNames.summary)}`);
    return `${stack.uiUrl}/namespaces/default/workflows/${id}`;
  } finally {
    await nightshift.close();
  }
}

/** `nightshift demo`: the stack, the bundled job with its progress and summary, then stop. */
export async function demo(flags: { keep?: boolean; provider: ProviderName }): Promise<void> {
  console.error('Starting Temporal (dev server), the Batch API emulator and a worker…');
  const { stack, home, throwaway } = await startStack();
  try {
    if (stack.emulator) {
      console.error(
        paintFor(process.stderr)('yellow', emulatorBanner(stack.emulator.url, 'The demo')),
      );
    }
    const interrupted = untilStopSignal().then(() => null);
    const uiLink = await Promise.race([runDemo(stack, home, flags.provider), interrupted]);
    if (uiLink === null) return;
    if (flags.keep) {
      console.log(`Temporal UI  ${uiLink}\n\nThe stack keeps running; Ctrl-C stops it.`);
      await interrupted;
    } else if (throwaway) {
      console.log(`\nThe stack stops now. Run \`npx nightshift demo --keep\` to look around.`);
    } else {
      const later = stack.address === `127.0.0.1:${DEV_PORT}` ? uiLink : stack.uiUrl;
      console.log(
        `Temporal UI  ${later}\n             (the stack stops now; the run is kept: ` +
          '`npx nightshift dev` brings the UI back)',
      );
    }
  } finally {
    await stack.stop();
  }
}
