import { InvalidArgumentError } from 'commander';
import type { RunStatus } from '../../workflows/types.js';
import type { ArtifactStore } from '../artifacts.js';
import type { Nightshift } from '../client.js';

/** Bad usage or invalid input, found before anything was submitted: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const EXIT_NOT_ALL_SUCCEEDED = 1;
export const EXIT_USAGE = 2;

export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set([
  'completed',
  'partial',
  'cancelled',
  'failed',
]);

/**
 * The client library, connected from the environment (with `store`, or the one NIGHTSHIFT_STORE
 * names); closed after `fn`. It is loaded here, when a command talks to Temporal, so that
 * defining the commands (`--help`) does not load it.
 */
export async function withNightshift<T>(
  fn: (nightshift: Nightshift) => Promise<T>,
  store?: ArtifactStore,
): Promise<T> {
  const [{ Nightshift }, { loadConfig }, { checkedStore }] = await Promise.all([
    import('../client.js'),
    import('../config.js'),
    import('./store.js'),
  ]);
  const config = loadConfig();
  const checked = store ?? (await checkedStore(config));
  let nightshift: Nightshift;
  try {
    nightshift = await Nightshift.connect(config, checked);
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${config.temporal.address} (${(err as Error).message}). ` +
        'Start one with `nightshift dev`, or set TEMPORAL_ADDRESS.',
    );
  }
  try {
    return await fn(nightshift);
  } finally {
    await nightshift.close();
  }
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError('expected a port number (0-65535)');
  }
  return n;
}

/** Collects repeated `--metadata k=v` into one record. */
export function keyValue(value: string, into: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq < 1) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  return { ...into, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** Help text listing examples, appended to a command's `--help`. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}
