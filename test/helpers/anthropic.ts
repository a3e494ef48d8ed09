import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type {
  MessageBatch,
  MessageBatchIndividualResponse,
} from '@anthropic-ai/sdk/resources/messages/batches';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../src/emulator/index.js';

export interface AnthropicHarness {
  emu: Emulator;
  client: Anthropic;
  close(): Promise<void>;
}

/** An emulator on a free port and an official Anthropic SDK client for it. */
export async function startAnthropicHarness(
  options: EmulatorOptions = {},
): Promise<AnthropicHarness> {
  const emu = await startEmulator({
    timing: { validatingMs: 5, finalizingMs: 5, cancellingMs: 5 },
    ...options,
  });
  const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: emu.url, maxRetries: 0 });
  return { emu, client, close: () => emu.close() };
}

/** One Messages API request in a batch's native shape. */
export function messageRequest(customId: string, content: string, params: object = {}) {
  return {
    custom_id: customId,
    params: {
      model: 'claude-3-5-haiku-latest',
      max_tokens: 256,
      messages: [{ role: 'user' as const, content }],
      ...params,
    },
  };
}

export function messageRequests(count: number, prefix = 'r') {
  return Array.from({ length: count }, (_, i) =>
    messageRequest(`${prefix}-${i}`, `Question ${i}?`),
  );
}

/** Polls until the batch has ended, bounded. */
export async function waitEnded(
  client: Anthropic,
  batchId: string,
  timeoutMs = 5_000,
): Promise<MessageBatch> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await client.messages.batches.retrieve(batchId);
    if (batch.processing_status === 'ended') return batch;
    assert.ok(Date.now() < deadline, `batch ${batchId} still ${batch.processing_status}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Every result line of an ended batch, sorted by custom_id. */
export async function resultsOf(
  client: Anthropic,
  batchId: string,
): Promise<MessageBatchIndividualResponse[]> {
  const lines: MessageBatchIndividualResponse[] = [];
  for await (const line of await client.messages.batches.results(batchId)) lines.push(line);
  return lines.sort((a, b) => a.custom_id.localeCompare(b.custom_id));
}
