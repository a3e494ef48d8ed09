import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import { type ByteSource, readJsonlLines } from './jsonl.js';
import { costOf } from './pricing.js';

/** Output tokens assumed for a request that sets no bound on them. */
export const UNBOUNDED_OUTPUT_GUESS = 1024;

/** OpenAI's accounting for chat: each message costs a few tokens of framing, the reply 3. */
const TOKENS_PER_MESSAGE = 4;
const REPLY_PRIMING_TOKENS = 3;

export interface CostEstimate {
  model: string | null;
  inputTokens: number;
  outputTokens: number;
  /** Requests without max_tokens (or the like), counted at {@link UNBOUNDED_OUTPUT_GUESS}. */
  unbounded: number;
  /** At the batch price; null when the model has no price. */
  usd: number | null;
}

const NO_OUTPUT = new Set(['/v1/embeddings', '/v1/moderations']);

/** The encoding of the GPT-4o generation and later; older models use cl100k_base. */
export function tokenizerFor(model: string | null): (text: string) => number {
  return /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt)/.test(model ?? '')
    ? o200k.countTokens
    : cl100k.countTokens;
}

function outputBound(url: string, body: Record<string, unknown>): number | null {
  if (NO_OUTPUT.has(url)) return 0;
  const bound = body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens;
  return typeof bound === 'number' ? bound : null;
}

/** Every piece of text in a value (strings, `text`/`content` parts, arrays of them). */
function textsOf(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const v of value) textsOf(v, into);
  else if (value && typeof value === 'object') {
    const { text, content } = value as { text?: unknown; content?: unknown };
    textsOf(text, into);
    textsOf(content, into);
  }
  return into;
}

/** Input tokens of one request body, counted with the model's tokenizer. */
export function inputTokensOf(url: string, body: Record<string, unknown>): number {
  const count = tokenizerFor(typeof body.model === 'string' ? body.model : null);
  const sum = (texts: string[]) => texts.reduce((n, t) => n + count(t), 0);
  if (url === '/v1/chat/completions' && Array.isArray(body.messages)) {
    const messages = body.messages as unknown[];
    return (
      messages.reduce<number>((n, m) => n + TOKENS_PER_MESSAGE + sum(textsOf(m)), 0) +
      REPLY_PRIMING_TOKENS
    );
  }
  return sum(textsOf([body.instructions, body.input, body.prompt]));
}

/**
 * What a validated requests file will cost at most: input tokens counted with the model's
 * tokenizer, and every request using all the output tokens it allows.
 */
export async function estimateCost(
  requests: ByteSource,
  /** Line numbers not to count (answered from the result cache), in order. */
  skipped: readonly number[] = [],
): Promise<CostEstimate> {
  let model: string | null = null;
  let inputTokens = 0;
  let outputTokens = 0;
  let unbounded = 0;
  let nextSkipped = 0;
  for await (const line of readJsonlLines(requests)) {
    const request = JSON.parse(line.text) as { url: string; body: Record<string, unknown> };
    const { body } = request;
    model ??= typeof body.model === 'string' ? body.model : null;
    if (skipped[nextSkipped] === line.lineNo) {
      nextSkipped += 1;
      continue;
    }
    inputTokens += inputTokensOf(request.url, body);
    const bound = outputBound(request.url, body);
    if (bound === null) unbounded += 1;
    outputTokens += bound ?? UNBOUNDED_OUTPUT_GUESS;
  }
  const usage = {
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    total_tokens: inputTokens + outputTokens,
  };
  const cost = model ? costOf(model, usage) : null;
  return { model, inputTokens, outputTokens, unbounded, usd: cost?.batch ?? null };
}
