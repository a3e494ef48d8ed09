import assert from 'node:assert/strict';
import { access, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { type Browser, chromium } from 'playwright-core';
import { onFreePorts } from '../src/dev/ports.js';
import { type RunningDevServer, startTemporalDevServer } from '../src/dev/temporal-dev-server.js';
import { chatLines } from './helpers/requests.js';
import { Rig } from './helpers/rig.js';

// The Temporal UI, for real: a 3-part run found by its search attribute in headless Chromium
// (Debian's `chromium`, which .ci/run installs). NIGHTSHIFT_UPDATE_SCREENSHOTS=1 refreshes docs/.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const hasChromium = await access(CHROMIUM).then(
  () => true,
  () => false,
);

let server: RunningDevServer;
let env: TestWorkflowEnvironment;
let browser: Browser;
before(async () => {
  if (!hasChromium) return;
  const dbFile = join(await mkdtemp(join(tmpdir(), 'nightshift-ui-')), 'temporal.db');
  server = await onFreePorts((ports) => startTemporalDevServer({ dbFile, ...ports }));
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser?.close();
  await env?.teardown();
  await server?.stop();
});

test('a run and its parts are found in the Temporal UI by search attribute', {
  skip: !hasChromium && `no browser at ${CHROMIUM}`,
}, async () => {
  const rig = await Rig.start(env, 'ui');
  try {
    const run = await rig.submit(chatLines(90), { id: 'ui-reviews', maxRequestsPerBatch: 30 });
    await run.wait();
  } finally {
    await rig.close();
  }
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  page.setDefaultTimeout(30_000);
  const query = encodeURIComponent(`NightshiftRunId = "ui-reviews"`);
  await page.goto(`${server.uiUrl}/namespaces/default/workflows?query=${query}`);
  for (const id of ['ui-reviews', 'ui-reviews-part-1', 'ui-reviews-part-2', 'ui-reviews-part-3']) {
    await page.getByText(id, { exact: true }).first().waitFor();
  }
  if (process.env.NIGHTSHIFT_UPDATE_SCREENSHOTS === '1') {
    await page.screenshot({ path: join(DOCS, 'ui-runs.png') });
  }

  await page.getByRole('link', { name: 'ui-reviews', exact: true }).click();
  // Activity summaries label the timeline; the run's own summary sits under User Metadata.
  await page.getByText('merge 90 results in input order', { exact: false }).first().waitFor();
  if (process.env.NIGHTSHIFT_UPDATE_SCREENSHOTS === '1') {
    await page.screenshot({ path: join(DOCS, 'ui-run.png') });
  }
  await page.getByText('User Metadata', { exact: true }).click();
  // The UI renders summaries as markdown in sandboxed frames: read every frame's text.
  const frameTexts = async () =>
    (await Promise.all(page.frames().map((f) => f.locator('body').textContent()))).join('\n');
  const deadline = Date.now() + 30_000;
  while (!(await frameTexts()).includes('Nightshift run ui-reviews: 90 requests')) {
    assert.ok(Date.now() < deadline, 'the run summary never showed under User Metadata');
    await page.waitForTimeout(200);
  }
  const text = (await page.locator('body').textContent()) ?? '';
  assert.match(text, /runWorkflow/);
  assert.match(text, /Completed/i);
});
