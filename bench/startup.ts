// `npm run bench:startup [-- --rounds 10] [--out startup-latest.md]`: how long the CLI takes to
// start and finish its lightest commands, and how many modules each loads.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDevServer } from '../test/helpers/temporal.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const RECORDER = fileURLToPath(new URL('./module-recorder.js', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

/** The commands a user runs most, from no server at all to one answer from Temporal. */
const COMMANDS = [
  ['--version'],
  ['--help'],
  ['status', '--help'],
  ['submit', '--help'],
  ['list', '--limit', '1'],
  ['status', 'no-such-run'],
];

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    out: { type: 'string', default: 'startup-latest.md' },
  },
});

interface Measure {
  command: string;
  medianMs: number;
  minMs: number;
  modules: number;
}

/** Runs `node …argv` to its end; its wall time in ms. */
function timeNode(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, argv, { env, stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
  });
}

/** Median and fastest of the rounds, after one warm-up run (the file system cache) not counted. */
async function times(argv: string[], env: NodeJS.ProcessEnv) {
  await timeNode(argv, env);
  const ms: number[] = [];
  for (let i = 0; i < Number(values.rounds); i++) ms.push(await timeNode(argv, env));
  ms.sort((a, b) => a - b);
  return { medianMs: ms[Math.floor(ms.length / 2)] ?? 0, minMs: ms[0] ?? 0 };
}

async function measure(args: string[], env: NodeJS.ProcessEnv, dir: string): Promise<Measure> {
  const timing = await times([CLI, ...args], env);
  // Counted in a run of its own: the loader hooks slow the process down.
  const list = join(dir, 'modules.txt');
  await timeNode(['--import', RECORDER, CLI, ...args], { ...env, NIGHTSHIFT_MODULES_OUT: list });
  const modules = (await readFile(list, 'utf8')).split('\n').filter(Boolean).length;
  return { command: `nightshift ${args.join(' ')}`, ...timing, modules };
}

function report(measures: Measure[], bareNodeMs: number): string {
  const cpu = cpus();
  return [
    `# CLI startup — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}. ` +
      `Wall time from spawn to exit, ${values.rounds} rounds after one warm-up; ` +
      `\`node -e 0\` takes ${bareNodeMs.toFixed(0)} ms here. The last two commands get their ` +
      'answer from a Temporal dev server on loopback.',
    '',
    '| command | median ms | min ms | modules loaded |',
    '|---|---:|---:|---:|',
    ...measures.map(
      (m) =>
        `| \`${m.command}\` | ${m.medianMs.toFixed(0)} | ${m.minMs.toFixed(0)} | ${m.modules} |`,
    ),
    '',
  ].join('\n');
}

const dir = await mkdtemp(join(tmpdir(), 'nightshift-startup-'));
const server = await startDevServer();
try {
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, NIGHTSHIFT_HOME: dir };
  const measures: Measure[] = [];
  for (const args of COMMANDS) measures.push(await measure(args, env, dir));
  const bare = await times(['-e', '0'], env);
  const markdown = report(measures, bare.medianMs);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, values.out), markdown);
  console.log(markdown);
} finally {
  await server.teardown();
  await rm(dir, { recursive: true, force: true });
}
