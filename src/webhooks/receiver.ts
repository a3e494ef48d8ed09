import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Client } from '@temporalio/client';
import OpenAI from 'openai';
import { pollNowSignal } from '../../workflows/messages.js';
import { NightshiftBatchIds } from '../../workflows/search-attributes.js';
import { listen } from '../listen.js';

/** OpenAI retries a delivery for up to 72 hours; the same webhook-id may come back that long. */
const DUPLICATE_WINDOW_MS = 72 * 3600 * 1000;
const MAX_BODY_BYTES = 256 * 1024;

export interface WebhookReceiverOptions {
  temporal: Client;
  /** The `whsec_…` secret of the endpoint, as OpenAI's dashboard shows it. */
  secret: string;
  port?: number;
  host?: string;
  /** Oldest accepted signature timestamp, in seconds (the SDK's default is 5 minutes). */
  toleranceSeconds?: number;
  log?: (event: Record<string, unknown>) => void;
}

export type Outcome = 'signalled' | 'duplicate' | 'unknown-batch' | 'ignored-type' | 'rejected';

export interface WebhookReceiver {
  url: string;
  close(): Promise<void>;
  /** Deliveries so far, by outcome. */
  counts(): Record<Outcome, number>;
}

type BatchEvent = Extract<OpenAI.Webhooks.UnwrapWebhookEvent, { type: `batch.${string}` }>;

function isBatchEvent(event: OpenAI.Webhooks.UnwrapWebhookEvent): event is BatchEvent {
  return event.type.startsWith('batch.');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Receives OpenAI's `batch.*` webhooks, verifies them with the SDK, and wakes the batch
 * workflow that waits on that batch so it polls at once instead of at its next interval.
 * Polling stays the safety net: a lost or rejected event only costs latency.
 */
export async function startWebhookReceiver(
  options: WebhookReceiverOptions,
): Promise<WebhookReceiver> {
  // Verification only: the key is never used to call the API from here.
  const openai = new OpenAI({ apiKey: 'unused-for-verification', webhookSecret: options.secret });
  const seen = new Map<string, number>();
  const counts: Record<Outcome, number> = {
    signalled: 0,
    duplicate: 0,
    'unknown-batch': 0,
    'ignored-type': 0,
    rejected: 0,
  };
  const log = options.log ?? (() => {});

  async function findWaitingPart(batchId: string): Promise<string | null> {
    const query = `${NightshiftBatchIds.name} = '${batchId.replace(/'/g, '')}' AND ExecutionStatus = 'Running'`;
    for await (const wf of options.temporal.workflow.list({ query })) return wf.workflowId;
    return null;
  }

  async function handle(req: IncomingMessage): Promise<{ status: number; outcome: Outcome }> {
    const body = await readBody(req);
    let event: OpenAI.Webhooks.UnwrapWebhookEvent;
    try {
      event = await openai.webhooks.unwrap(
        body,
        req.headers as Record<string, string>,
        undefined,
        options.toleranceSeconds,
      );
    } catch (err) {
      log({ msg: 'webhook rejected', reason: (err as Error).message });
      return { status: 400, outcome: 'rejected' };
    }
    const webhookId = String(req.headers['webhook-id']);
    const now = Date.now();
    for (const [id, at] of seen) if (now - at > DUPLICATE_WINDOW_MS) seen.delete(id);
    if (seen.has(webhookId)) return { status: 200, outcome: 'duplicate' };
    seen.set(webhookId, now);

    if (!isBatchEvent(event)) return { status: 200, outcome: 'ignored-type' };
    const batchId = event.data.id;
    const workflowId = await findWaitingPart(batchId);
    if (!workflowId) {
      // Not ours, or already finished: answering 2xx stops OpenAI's retries.
      log({ msg: 'webhook for an unknown batch', batch_id: batchId, type: event.type });
      return { status: 200, outcome: 'unknown-batch' };
    }
    await options.temporal.workflow.getHandle(workflowId).signal(pollNowSignal);
    log({ msg: 'webhook: poll now', batch_id: batchId, workflow_id: workflowId, type: event.type });
    return { status: 200, outcome: 'signalled' };
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    handle(req).then(
      ({ status, outcome }) => {
        counts[outcome] += 1;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ outcome }));
      },
      (err: unknown) => {
        // Temporal unreachable, say: a 5xx makes OpenAI deliver again later.
        log({ msg: 'webhook handling failed', error: (err as Error).message });
        res.writeHead(503).end();
      },
    );
  });
  const { url } = await listen(server, options);
  return {
    url: `${url}/`,
    counts: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
