import type { ArtifactStore } from '../src/artifacts.js';
import { inputTokensOf, type TokenCounter, tokenizerFor } from '../src/estimate.js';
import type { CountTokensInput } from '../workflows/types.js';
import { type OnProgress, PROGRESS_EVERY_LINES } from './heartbeat.js';

/** A part line in any provider's shape: OpenAI's `body`, Anthropic's `params`, Gemini's `request`. */
interface AnyLine {
  url?: string;
  body?: Record<string, unknown>;
  params?: Record<string, unknown>;
  request?: Record<string, unknown>;
}

/**
 * The input tokens of an attempt's requests, counted with the tokenizer `submit` estimates with:
 * what the part reserves in the enqueued-token ledger before its batch is created.
 */
export async function countTokens(
  store: ArtifactStore,
  input: CountTokensInput,
  onProgress?: OnProgress,
): Promise<number> {
  let tokens = 0;
  // A part asks one model: its first line's picks the tokenizer.
  let count: TokenCounter | null = null;
  for await (const line of store.readLines(input.runId, input.requests)) {
    const parsed = JSON.parse(line.text) as AnyLine;
    // Translated lines keep their messages (Anthropic) or contents (Gemini) under other names.
    const body = parsed.body ?? parsed.params ?? parsed.request ?? {};
    count ??= await tokenizerFor(typeof body.model === 'string' ? body.model : null);
    tokens += inputTokensOf(parsed.url ?? '/v1/chat/completions', body, count);
    if (line.lineNo % PROGRESS_EVERY_LINES === 0) onProgress?.(line.lineNo);
  }
  return tokens;
}
