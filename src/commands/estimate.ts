import { readJsonlLines } from '../jsonl.js';
import { costOf } from '../pricing.js';

/** Output tokens assumed for a request that sets no bound on them. */
export const UNBOUNDED_OUTPUT_GUESS = 1024;

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

function outputBound(url: string, body: Record<string, unknown>): number | null {
  if (NO_OUTPUT.has(url)) return 0;
  const bound = body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens;
  return typeof bound === 'number' ? bound : null;
}

/**
 * An upper-leaning estimate of what a validated requests file costs: about 4 characters per
 * input token, and every request using all the output tokens it allows.
 */
export async function estimateCost(path: string): Promise<CostEstimate> {
  let model: string | null = null;
  let inputChars = 0;
  let outputTokens = 0;
  let unbounded = 0;
  for await (const line of readJsonlLines(path)) {
    const request = JSON.parse(line.text) as { url: string; body: Record<string, unknown> };
    const { body } = request;
    model ??= typeof body.model === 'string' ? body.model : null;
    inputChars += JSON.stringify(body.messages ?? body.input ?? body.prompt ?? '').length;
    const bound = outputBound(request.url, body);
    if (bound === null) unbounded += 1;
    outputTokens += bound ?? UNBOUNDED_OUTPUT_GUESS;
  }
  const inputTokens = Math.ceil(inputChars / 4);
  const usage = {
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    total_tokens: inputTokens + outputTokens,
  };
  const cost = model ? costOf(model, usage) : null;
  return { model, inputTokens, outputTokens, unbounded, usd: cost?.batch ?? null };
}
