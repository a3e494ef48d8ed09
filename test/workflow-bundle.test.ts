import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleIsCurrent, workflowBundle } from '../src/workflow-bundle.js';

const SDK = (
  createRequire(import.meta.url)('@temporalio/workflow/package.json') as { version: string }
).version;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

test('workers use the bundle the build made', async () => {
  const bundle = await workflowBundle();
  assert.ok('codePath' in bundle && bundle.codePath?.endsWith('workflows.bundle.js'));
});

test('a bundle is stale once a module it was made from, or the SDK, has changed', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nightshift-bundle-'));
  const manifest = join(root, 'manifest.json');
  await writeFile(join(root, 'run.js'), 'export const v = 1;\n');
  const write = (sdk: string) =>
    writeFile(
      manifest,
      JSON.stringify({ sdk, modules: { 'run.js': sha256('export const v = 1;\n') } }),
    );

  assert.equal(await bundleIsCurrent(manifest, root), false, 'no manifest');
  await write(SDK);
  assert.equal(await bundleIsCurrent(manifest, root), true);
  await write('0.0.1');
  assert.equal(await bundleIsCurrent(manifest, root), false, 'another SDK');
  await write(SDK);
  await writeFile(join(root, 'run.js'), 'export const v = 2;\n');
  assert.equal(await bundleIsCurrent(manifest, root), false, 'a changed module');
});
