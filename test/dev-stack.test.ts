import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Nightshift } from '../src/client.js';
import { onFreePorts } from '../src/dev/ports.js';
import { startDevStack } from '../src/dev/stack.js';
import { waitUntilServing } from '../src/dev/temporal-dev-server.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { connectClient } from '../src/temporal/connection.js';
import { chatLines } from './helpers/requests.js';

test('on the dev stack, a finished batch reaches its run through the emulator’s webhooks', async () => {
  const home = await mkdtemp(join(tmpdir(), 'nightshift-devstack-'));
  const stack = await onFreePorts((ports) =>
    startDevStack({ home, ...ports, taskQueue: 'dev-webhooks', providers: {} }),
  );
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

test('the dev server counts as ready when its frontend serves, not when its port opens', async () => {
  // A port that accepts connections but speaks no gRPC is what a dev server looks like in the
  // moment before its frontend is healthy; a client connecting then would fail.
  const sockets = new Set<Socket>();
  const listener = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  try {
    await assert.rejects(
      waitUntilServing(`127.0.0.1:${port}`, { timeoutMs: 1_500 }),
      /did not serve within 1.5 s/,
    );
  } finally {
    listener.close();
    for (const socket of sockets) socket.destroy();
  }
});
