import type { Budget, CostUsd, Usage } from '../workflows/types.js';

interface Price {
  /** USD per 1M input tokens. */
  input: number;
  /** USD per 1M output tokens (0 for embeddings, which have none). */
  output: number;
}

/**
 * Standard (non-batch) prices, USD per 1M tokens, by model id across providers (their ids do not
 * collide). Cached-input discounts are not modelled, so a cost can come out a little high, never
 * low. OpenAI's from its pricing page as of August 2025 (o3 after its June 2025 price cut), which
 * Azure's global deployments match; Azure runs name deployments, priced only when the name is a
 * model id.
 */
const OPENAI: Record<string, Price> = {
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  o3: { input: 2, output: 8 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, output: 0 },
};

/** Anthropic's pricing page as of October 2025 (ids with and without their date). */
const ANTHROPIC: Record<string, Price> = {
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-opus-4': { input: 15, output: 75 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-sonnet-4': { input: 3, output: 15 },
  'claude-3-7-sonnet': { input: 3, output: 15 },
  'claude-haiku-4-5': { input: 1, output: 5 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
  'claude-3-haiku': { input: 0.25, output: 1.25 },
};

/** The Gemini API's paid tier as of October 2025 (2.5 Pro: prompts up to 200k tokens). */
const GEMINI: Record<string, Price> = {
  'gemini-2.5-pro': { input: 1.25, output: 10 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5 },
  'gemini-2.5-flash-lite': { input: 0.1, output: 0.4 },
  'gemini-2.0-flash': { input: 0.1, output: 0.4 },
  'gemini-2.0-flash-lite': { input: 0.075, output: 0.3 },
};

const STANDARD: Record<string, Price> = { ...OPENAI, ...ANTHROPIC, ...GEMINI };

/** Every provider's batch API bills half the standard price: OpenAI, Azure, Anthropic, Gemini. */
export const BATCH_DISCOUNT = 0.5;

/** Longest first, so that `gpt-4o-mini-…` is matched by gpt-4o-mini and not gpt-4o. */
const MODELS = Object.keys(STANDARD).sort((a, b) => b.length - a.length);

/**
 * A dated snapshot's suffix (`-2024-07-18`, `-0613`, Anthropic's `-20250514`). Anything else
 * after a known name (`-audio-preview`, `-search-preview`) is a different product with a
 * different price.
 */
const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$/;

/** The price entry a model id falls under, or null when unknown. */
export function priceKey(model: string): string | null {
  return (
    MODELS.find(
      (name) =>
        model === name ||
        (model.startsWith(name) && SNAPSHOT_SUFFIX.test(model.slice(name.length))),
    ) ?? null
  );
}

function standardPrice(model: string): Price | null {
  const key = priceKey(model);
  return key ? (STANDARD[key] ?? null) : null;
}

/** Tokens times their prices: the one formula behind costs, estimates and the run budget. */
export function usageCostUsd(usage: Usage, inputUsdPerToken: number, outputUsdPerToken: number) {
  return usage.input_tokens * inputUsdPerToken + usage.output_tokens * outputUsdPerToken;
}

/** What the usage cost through the Batch API and would have cost without it; null if unknown. */
export function costOf(model: string, usage: Usage): CostUsd | null {
  const price = standardPrice(model);
  if (!price) return null;
  const standard = usageCostUsd(usage, price.input / 1e6, price.output / 1e6);
  const batch = standard * BATCH_DISCOUNT;
  return {
    batch: roundUsd(batch),
    standard_equivalent: roundUsd(standard),
    saved: roundUsd(standard - batch),
  };
}

/** To a millionth of a dollar: below that it is floating-point noise, not money. */
function roundUsd(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

export function emptyUsage(): Usage {
  return { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
}

export function addUsage(into: Usage, more: Usage): void {
  into.input_tokens += more.input_tokens;
  into.output_tokens += more.output_tokens;
  into.total_tokens += more.total_tokens;
}

/**
 * The usage a response body reports, in one shape: /v1/responses and Anthropic count
 * input/output tokens, chat, completions and embeddings prompt/completion tokens (embeddings no
 * completion), Gemini prompt/candidates tokens in `usageMetadata`.
 */
export function usageOfBody(body: unknown): Usage {
  const { usage, usageMetadata: gemini } =
    (body as { usage?: Record<string, unknown>; usageMetadata?: Record<string, unknown> } | null) ??
    {};
  if (gemini && typeof gemini === 'object') {
    const input = count(gemini.promptTokenCount);
    // Gemini's thinking tokens are billed as output but counted apart from the candidates'.
    const output = count(gemini.candidatesTokenCount) + count(gemini.thoughtsTokenCount);
    return { input_tokens: input, output_tokens: output, total_tokens: input + output };
  }
  if (!usage || typeof usage !== 'object') return emptyUsage();
  const input = count(usage.input_tokens ?? usage.prompt_tokens);
  const output = count(usage.output_tokens ?? usage.completion_tokens);
  const total = usage.total_tokens === undefined ? input + output : count(usage.total_tokens);
  return { input_tokens: input, output_tokens: output, total_tokens: total };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** A run budget in the Batch API's per-token prices, or null when the model has no price. */
export function budgetFor(model: string, maxUsd: number): Budget | null {
  const price = standardPrice(model);
  if (!price) return null;
  return {
    maxUsd,
    inputUsdPerToken: (price.input * BATCH_DISCOUNT) / 1e6,
    outputUsdPerToken: (price.output * BATCH_DISCOUNT) / 1e6,
  };
}
