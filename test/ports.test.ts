import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePorts, onFreePorts, PortInUseError } from '../src/dev/ports.js';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server.js';

test('free ports picked together are distinct', async () => {
  const ports = await freePorts(32);
  assert.equal(new Set(ports).size, 32);
  assert.ok(ports.every((port) => port > 0));
});

test('a dev server whose port was taken says so, with the server’s own words', async () => {
  const taken = createServer();
  await new Promise<void>((listening) => taken.listen(0, '127.0.0.1', listening));
  const address = taken.address();
  assert.ok(typeof address === 'object' && address);
  const [port = 0] = await freePorts(1);
  try {
    const dbFile = join(await mkdtemp(join(tmpdir(), 'nightshift-ports-')), 'temporal.db');
    await assert.rejects(startTemporalDevServer({ dbFile, port, uiPort: address.port }), (err) => {
      assert.ok(err instanceof PortInUseError);
      // The reason is in the last of stderr, read after the process exited.
      assert.match(err.message, new RegExp(`UI port ${address.port}.*address already in use`));
      return true;
    });
  } finally {
    taken.close();
  }
});

test('a start that loses its ports to another process picks again, three times at most', async () => {
  const tried: number[][] = [];
  const started = await onFreePorts(async ({ port, uiPort }) => {
    tried.push([port, uiPort]);
    if (tried.length < 3) throw new PortInUseError(`port ${port} taken`);
    return 'started';
  });
  assert.equal(started, 'started');
  assert.equal(tried.length, 3);

  let attempts = 0;
  await assert.rejects(
    onFreePorts(async () => {
      attempts++;
      throw new PortInUseError('always taken');
    }),
    /always taken/,
  );
  assert.equal(attempts, 3);

  attempts = 0;
  await assert.rejects(
    onFreePorts(async () => {
      attempts++;
      throw new Error('no such binary');
    }),
    /no such binary/,
  );
  assert.equal(attempts, 1, 'only a taken port is worth another pick');
});
