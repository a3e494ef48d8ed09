import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { startWebhookReceiver, type WebhookReceiver } from '../src/webhooks/receiver.js';
import { chatLines } from './helpers/requests.js';
import { Rig } from './helpers/rig.js';
import { startDevServer } from './helpers/temporal.js';

const SECRET = `whsec_${Buffer.from('nightshift-webhook-test-secret!!').toString('base64')}`;

let env: TestWorkflowEnvironment;
let receiver: WebhookReceiver;
before(async () => {
  env = await startDevServer();
  receiver = await startWebhookReceiver({ temporal: env.client, secret: SECRET });
});
after(async () => {
  await receiver?.close();
  await env?.teardown();
});

test('a completed batch is noticed through its webhook, not at the next poll', async () => {
  const rig = await Rig.start(env, 'webhooks', {
    emulator: { webhook: { url: receiver.url, secret: SECRET } },
  });
  try {
    const started = Date.now();
    // Without the webhook, this run would wait at least 60 s for its next poll.
    const run = await rig.submit(chatLines(40), {
      id: 'webhook-1',
      pollIntervalSeconds: 60,
      maxPollIntervalSeconds: 60,
    });
    const summary = await run.wait();
    const seconds = (Date.now() - started) / 1000;
    assert.equal(summary.status, 'completed');
    assert.ok(seconds < 15, `took ${seconds}s`);
    assert.ok(receiver.counts().signalled >= 1);
    assert.ok(rig.emulator.stats().webhooks.every((w) => w.delivered));
  } finally {
    await rig.close();
  }
});

async function deliver(body: string, headers: Record<string, string>) {
  const res = await fetch(receiver.url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return {
    status: res.status,
    body: (await res.json().catch(() => null)) as { outcome: string } | null,
  };
}

function signed(id: string, batchId: string, secret = SECRET, at = new Date()) {
  const body = JSON.stringify({
    id: `evt_${id}`,
    object: 'event',
    type: 'batch.completed',
    created_at: Math.floor(at.getTime() / 1000),
    data: { id: batchId },
  });
  const signature = new Webhook(secret).sign(id, at, body);
  return {
    body,
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
    },
  };
}

test('bad signatures, stale timestamps, replays and unknown batches do no harm', async () => {
  const forged = signed(
    'msg_forged',
    'batch_x',
    `whsec_${Buffer.from('another-secret-entirely-here!!!!').toString('base64')}`,
  );
  assert.equal((await deliver(forged.body, forged.headers)).status, 400);

  const stale = signed('msg_stale', 'batch_x', SECRET, new Date(Date.now() - 3600_000));
  assert.equal((await deliver(stale.body, stale.headers)).status, 400);

  const tampered = signed('msg_tampered', 'batch_x');
  const altered = tampered.body.replace('batch_x', 'batch_y');
  assert.equal((await deliver(altered, tampered.headers)).status, 400);

  const unknown = signed('msg_unknown', 'batch_nobody_knows');
  assert.deepEqual(await deliver(unknown.body, unknown.headers), {
    status: 200,
    body: { outcome: 'unknown-batch' },
  });
  assert.deepEqual(await deliver(unknown.body, unknown.headers), {
    status: 200,
    body: { outcome: 'duplicate' },
  });
  assert.ok(receiver.counts().rejected >= 3);
});
