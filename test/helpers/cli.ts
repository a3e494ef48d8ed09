import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI (this file runs from dist/test/helpers). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** Settings of the test process that must not leak into a CLI under test. */
const SCRUBBED = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'NIGHTSHIFT_HOME',
  'NIGHTSHIFT_TASK_QUEUE',
  'NIGHTSHIFT_STORE',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_REGION',
  'MALLOC_ARENA_MAX',
  'MALLOC_TRIM_THRESHOLD_',
];

function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const key of SCRUBBED) delete base[key];
  return { ...base, ...env };
}

export interface CliResult {
  code: number | null;
  /** The signal that ended the process, when one did (then `code` is null). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running `nightshift …` whose output is collected as it comes. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) =>
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr }),
      );
    });
  }

  /** Waits until stdout or stderr matches, failing with what was printed after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stdout + this.stderr)) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `no ${pattern} (exit ${this.child.exitCode}):\n${this.stdout}\n${this.stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<CliResult> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** `node …args` with the given settings on top of a scrubbed environment. */
export function spawnNode(args: string[], env: Record<string, string> = {}): CliProcess {
  return new CliProcess(
    spawn(process.execPath, args, { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

export function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
  return spawnNode([CLI, ...args], env);
}

/** Runs `nightshift …` to its end. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return spawnCli(args, env).exited;
}

/** Polls `check` until it returns a value, for at most `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
