import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CLI, spawnNode } from './helpers/cli.js';
import { startDevServer } from './helpers/temporal.js';

// The CLI loads what a command needs when that command runs (issue 19): counted in modules, which
// unlike a timer does not depend on how busy the machine is. `bench/startup.ts` has the times.

const RECORDER = fileURLToPath(new URL('../bench/module-recorder.js', import.meta.url));

/** What only running a worker, the emulator, an estimate, a template or an export needs. */
const HEAVY = [
  `${sep}node_modules${sep}@temporalio${sep}worker${sep}`,
  `${sep}node_modules${sep}@temporalio${sep}core-bridge${sep}`,
  `${sep}node_modules${sep}openai${sep}`,
  `${sep}node_modules${sep}gpt-tokenizer${sep}`,
  `${sep}node_modules${sep}csv-parse${sep}`,
  `${sep}node_modules${sep}hyparquet-writer${sep}`,
  `${sep}node_modules${sep}pino${sep}`,
  `${sep}dist${sep}src${sep}emulator${sep}`,
  `${sep}dist${sep}activities${sep}`,
  `${sep}dist${sep}src${sep}worker.js`,
  `${sep}dist${sep}src${sep}estimate.js`,
];

let env: TestWorkflowEnvironment;
let dir: string;
before(async () => {
  env = await startDevServer();
  dir = await mkdtemp(join(tmpdir(), 'nightshift-startup-'));
});
after(async () => {
  await env?.teardown();
});

/** The files of every module `nightshift …args` loaded, and how it exited. */
async function modulesOf(args: string[]): Promise<{ code: number | null; modules: string[] }> {
  const list = join(dir, `${args.join('_').replace(/\W/g, '')}.txt`);
  const { code } = await spawnNode(['--import', RECORDER, CLI, ...args], {
    NIGHTSHIFT_MODULES_OUT: list,
    TEMPORAL_ADDRESS: env.address,
    NIGHTSHIFT_HOME: dir,
  }).exited;
  return { code, modules: (await readFile(list, 'utf8')).split('\n').filter(Boolean) };
}

function packagesOf(modules: string[]): string[] {
  const names = modules.map((m) => /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(m)?.[1]);
  return [...new Set(names.filter((n) => n !== undefined))].sort();
}

test('--version, --help and a command’s --help load commander and the command definitions only', async () => {
  for (const args of [['--version'], ['--help'], ['status', '--help'], ['submit', '--help']]) {
    const { code, modules } = await modulesOf(args);
    assert.equal(code, 0, args.join(' '));
    assert.deepEqual(packagesOf(modules), ['commander'], args.join(' '));
    // 27 today (999 before issue 19): the command definitions, commander and a few helpers.
    assert.ok(modules.length <= 40, `${args.join(' ')}: ${modules.length} modules`);
  }
});

test('status and list load the Temporal client, and no worker, provider SDK or tokenizer', async () => {
  for (const args of [['list'], ['status', 'no-such-run']]) {
    const { modules } = await modulesOf(args);
    const heavy = modules.filter((m) => HEAVY.some((h) => m.includes(h)));
    assert.deepEqual(heavy, [], args.join(' '));
    assert.ok(packagesOf(modules).includes('@temporalio/client'), args.join(' '));
    // 325 today, of which ~300 are the Temporal client's (gRPC, protobufs).
    assert.ok(modules.length <= 400, `${args.join(' ')}: ${modules.length} modules`);
  }
});

test('a worker with OpenAI credentials alone loads neither the Anthropic nor the Gemini SDK, nor webpack', async () => {
  const list = join(dir, 'worker-openai.txt');
  const worker = spawnNode(['--import', RECORDER, CLI, 'worker'], {
    NIGHTSHIFT_MODULES_OUT: list,
    TEMPORAL_ADDRESS: env.address,
    NIGHTSHIFT_HOME: dir,
    NIGHTSHIFT_TASK_QUEUE: 'startup-openai-only',
    OPENAI_API_KEY: 'sk-startup-test',
  });
  await worker.waitFor(/worker polling task queue "startup-openai-only"/);
  assert.equal((await worker.stop()).code, 0);
  const modules = (await readFile(list, 'utf8')).split('\n');
  const packages = packagesOf(modules);
  assert.ok(packages.includes('openai'), packages.join(', '));
  assert.ok(!packages.includes('@anthropic-ai/sdk'), packages.join(', '));
  assert.ok(!packages.includes('@google/genai'), packages.join(', '));
  // The workflows come bundled by the build. Importing the SDK's worker loads webpack's entry;
  // bundling at start would load hundreds of its modules (428) and keep ~100 MB more RSS.
  const webpack = modules.filter((m) => m.includes(`${sep}node_modules${sep}webpack${sep}`));
  assert.ok(webpack.length <= 5, `${webpack.length} webpack modules loaded`);
});
