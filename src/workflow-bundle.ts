import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bundleWorkflowCode,
  type WorkflowBundleOption,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';

// The workflows run from a webpack bundle. `npm run build` makes it once
// (scripts/bundle-workflows.mjs); a worker that bundled them itself would load webpack, take
// seconds to start and keep ~100 MB more RSS for its whole life (measured idle: 237 MB against
// 134 MB).

/** The compiled workflows entry, next to this file's compiled tree. */
const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

/** The package's root, from which the manifest names our modules (`dist/workflows/run.js`). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PREBUILT = fileURLToPath(new URL('../workflows.bundle.js', import.meta.url));
const MANIFEST = fileURLToPath(new URL('../workflows.bundle.json', import.meta.url));

/** What the prebuilt bundle was made from: the SDK's version and each of our modules' hash. */
interface Manifest {
  sdk: string;
  /** Path from the package root → sha256 of its contents when bundled. */
  modules: Record<string, string>;
}

const sdkVersion = (): string =>
  (createRequire(import.meta.url)('@temporalio/workflow/package.json') as { version: string })
    .version;

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

let bundled: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles the workflows now (seconds); one bundle serves every worker of the process. */
function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  bundled ??= bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  return bundled;
}

/**
 * The bundle `npm run build` made, when the compiled workflows and the SDK are still what it was
 * made from; else one made now (a `tsc` run alone, say, leaves the prebuilt one stale).
 */
export async function workflowBundle(): Promise<WorkflowBundleOption> {
  return (await bundleIsCurrent(MANIFEST, ROOT)) ? { codePath: PREBUILT } : bundleWorkflows();
}

/** Whether the modules `manifest` lists (paths from `root`) and the SDK are as it says. */
export async function bundleIsCurrent(manifestPath: string, root: string): Promise<boolean> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  } catch {
    return false;
  }
  if (manifest.sdk !== sdkVersion()) return false;
  for (const [path, hash] of Object.entries(manifest.modules)) {
    if ((await sha256(resolve(root, path)).catch(() => null)) !== hash) return false;
  }
  return true;
}

/**
 * Bundles the workflows into `dist/workflows.bundle.js`, with the manifest that says what they
 * were made from. Our modules are found by their ids in the bundle, which webpack makes from the
 * working directory.
 */
export async function writePrebuiltBundle(): Promise<void> {
  const { code } = await bundleWorkflows();
  const modules: Manifest['modules'] = {};
  for (const [, id] of code.matchAll(/^\/\*\*\*\/ "(\.\/[^"]+)"/gm)) {
    if (id === undefined || id.includes('/node_modules/')) continue;
    const path = resolve(process.cwd(), id);
    modules[relative(ROOT, path)] = await sha256(path);
  }
  if (!Object.keys(modules).some((path) => path.endsWith('workflows/index.js'))) {
    throw new Error(
      'the workflows bundle names none of our modules: is the build run from the package root?',
    );
  }
  for (const [path, text] of [
    [PREBUILT, code],
    [MANIFEST, `${JSON.stringify({ sdk: sdkVersion(), modules } satisfies Manifest, null, 2)}\n`],
  ] as const) {
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  }
}

const quietBundlerLogger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error(message: string, meta?: Record<string, unknown>) {
    console.error(message, meta ?? ''); // webpack's errors: the workflows do not bundle
  },
  log() {},
};
