import { setTimeout as delay } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { randomId } from './random.js';
import { nowSeconds } from './store.js';
import type { WebhookStat } from './types.js';

export type BatchEventType =
  | 'batch.completed'
  | 'batch.failed'
  | 'batch.expired'
  | 'batch.cancelled';

const MAX_ATTEMPTS = 5;
const FIRST_RETRY_MS = 50;
const ATTEMPT_TIMEOUT_MS = 5_000;

/**
 * Sends OpenAI's batch events, signed per Standard Webhooks, as OpenAI does: a receiver that
 * does not answer 2xx is retried with exponential backoff, a bounded number of times.
 */
export class WebhookSender {
  private readonly signer: Webhook;
  private readonly deliveries: WebhookStat[] = [];
  private readonly pending = new Set<Promise<void>>();
  private stop = new AbortController();

  constructor(private readonly config: { url: string; secret: string }) {
    this.signer = new Webhook(config.secret);
  }

  send(type: BatchEventType, batchId: string): void {
    const event = {
      id: randomId('evt_'),
      object: 'event',
      type,
      created_at: nowSeconds(),
      data: { id: batchId },
    };
    const stat: WebhookStat = {
      event_id: event.id,
      type,
      batch_id: batchId,
      attempts: 0,
      delivered: false,
    };
    this.deliveries.push(stat);
    const delivery = this.deliver(JSON.stringify(event), stat, this.stop.signal).finally(() =>
      this.pending.delete(delivery),
    );
    this.pending.add(delivery);
  }

  stats(): WebhookStat[] {
    return this.deliveries.map((d) => ({ ...d }));
  }

  /** Abandons deliveries in flight and forgets past ones. */
  async reset(): Promise<void> {
    this.stop.abort();
    this.stop = new AbortController();
    this.deliveries.length = 0;
    await Promise.all(this.pending);
  }

  private async deliver(payload: string, stat: WebhookStat, signal: AbortSignal): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS && !signal.aborted; attempt++) {
      if (attempt > 0) {
        const backoff = FIRST_RETRY_MS * 2 ** (attempt - 1);
        if (!(await delay(backoff, true, { signal }).catch(() => false))) return;
      }
      stat.attempts++;
      const sentAt = new Date();
      try {
        const response = await fetch(this.config.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)',
            'webhook-id': stat.event_id,
            'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
            'webhook-signature': this.signer.sign(stat.event_id, sentAt, payload),
          },
          body: payload,
          signal: AbortSignal.any([signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
        });
        await response.body?.cancel();
        if (response.ok) {
          stat.delivered = true;
          return;
        }
      } catch {
        // An unreachable receiver is retried like a failing one.
      }
    }
  }
}
