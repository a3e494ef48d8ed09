import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Nightshift } from '../src/client.js';
import { freePort } from '../src/dev/ports.js';
import { startDevStack } from '../src/dev/stack.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { connectClient } from '../src/temporal/connection.js';
import { chatLines } from './helpers/requests.js';

test('on the dev stack, a finished batch reaches its run through the emulator’s webhooks', async () => {
  const home = await mkdtemp(join(tmpdir(), 'nightshift-devstack-'));
  const stack = await startDevStack({
    home,
    port: await freePort(),
    uiPort: await freePort(),
    taskQueue: 'dev-webhooks',
    openai: null,
  });
  try {
    const temporal = await connectClient({ address: stack.address, namespace: 'default' });
    const nightshift = new Nightshift(temporal, 'dev-webhooks', new LocalArtifactStore(home));
    const input = join(home, 'requests.jsonl');
    await writeFile(input, `${chatLines(30).join('\n')}\n`);
    const started = Date.now();
    // A minute between polls: only the webhook can end this run in seconds.
    const { run } = await nightshift.submit(input, {
      id: 'dev-webhook-1',
      pollIntervalSeconds: 60,
      maxPollIntervalSeconds: 60,
    });
    const summary = await run.wait();
    const seconds = (Date.now() - started) / 1000;
    assert.equal(summary.counts.succeeded, 30);
    assert.ok(seconds < 20, `took ${seconds}s`);
    const deliveries = stack.emulator?.stats().webhooks ?? [];
    assert.ok(deliveries.some((d) => d.type === 'batch.completed' && d.delivered));
    await temporal.connection.close();
  } finally {
    await stack.stop();
  }
});
