import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import { type ByteSource, readJsonlLines } from './jsonl.js';
import { costOf } from './pricing.js';
import { seededRandom } from './random.js';

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
  /** Set when the input tokens were estimated from a sample rather than all counted. */
  sample?: TokenSample;
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

/** What a request body's input is made of: its texts, and the tokens framing them. */
function inputOf(url: string, body: Record<string, unknown>): { texts: string[]; framing: number } {
  if (url === '/v1/chat/completions' && Array.isArray(body.messages)) {
    const messages = body.messages as unknown[];
    const texts: string[] = [];
    for (const m of messages) textsOf(m, texts);
    return { texts, framing: messages.length * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS };
  }
  return { texts: textsOf([body.instructions, body.input, body.prompt]), framing: 0 };
}

/** Input tokens of one request body, counted with the model's tokenizer. */
export function inputTokensOf(url: string, body: Record<string, unknown>): number {
  const count = tokenizerFor(typeof body.model === 'string' ? body.model : null);
  const { texts, framing } = inputOf(url, body);
  return texts.reduce((n, t) => n + count(t), framing);
}

/**
 * Requests tokenized, about. Beyond them the tokenizer (~5 s for 200,000 chat requests on one
 * core) gives way to a random sample: the sampled requests' tokens per character, times the
 * characters of every request, with the sample's error stated. Random, not every k-th request:
 * a file that cycles through k kinds of request would show a k-th sample one kind only.
 */
export const ESTIMATE_SAMPLE = 2_000;

/** The sample's seed: the same file gives the same estimate every time. */
const SAMPLE_SEED = 0x6e696768;

/** How an estimate counted its input tokens when it sampled. */
export interface TokenSample {
  /** Requests tokenized, and of how many sent. */
  requests: number;
  of: number;
  /** The input tokens' relative error at 95% confidence, in percent (the ratio estimator's). */
  errorPct: number;
}

/**
 * What a validated requests file will cost at most: input tokens counted with the model's
 * tokenizer (on a sample of {@link ESTIMATE_SAMPLE} when more requests are sent), and every
 * request using all the output tokens it allows.
 */
export async function estimateCost(
  requests: ByteSource,
  /** Line numbers not to count (answered from the result cache), in order. */
  skipped: readonly number[] = [],
  /** The requests the file holds, when known: more than the sample are sampled. */
  total = 0,
): Promise<CostEstimate> {
  const share = ESTIMATE_SAMPLE / (total - skipped.length);
  const random = seededRandom(SAMPLE_SEED);
  let model: string | null = null;
  let count: ((text: string) => number) | null = null;
  let sent = 0;
  let framing = 0;
  let chars = 0;
  const sample: { chars: number; tokens: number }[] = [];
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
    const input = inputOf(request.url, body);
    framing += input.framing;
    const length = input.texts.reduce((n, t) => n + t.length, 0);
    chars += length;
    if (!(share < 1) || random() < share) {
      count ??= tokenizerFor(model);
      const tokens = count;
      sample.push({ chars: length, tokens: input.texts.reduce((n, t) => n + tokens(t), 0) });
    }
    sent += 1;
    const bound = outputBound(request.url, body);
    if (bound === null) unbounded += 1;
    outputTokens += bound ?? UNBOUNDED_OUTPUT_GUESS;
  }
  const { textTokens, tokenSample } = scaled(sample, chars, sent);
  const inputTokens = framing + textTokens;
  const usage = {
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    total_tokens: inputTokens + outputTokens,
  };
  const cost = model ? costOf(model, usage) : null;
  return {
    model,
    inputTokens,
    outputTokens,
    unbounded,
    usd: cost?.batch ?? null,
    ...(tokenSample ? { sample: tokenSample } : {}),
  };
}

/**
 * The text tokens of every request from those of the sample: the ratio estimator, tokens per
 * character, with its standard error (finite population corrected). Exact when every request
 * was tokenized.
 */
function scaled(
  sample: { chars: number; tokens: number }[],
  chars: number,
  sent: number,
): { textTokens: number; tokenSample?: TokenSample } {
  const n = sample.length;
  const sampledTokens = sample.reduce((a, s) => a + s.tokens, 0);
  if (n === sent) return { textTokens: sampledTokens };
  const sampledChars = sample.reduce((a, s) => a + s.chars, 0);
  const ratio = sampledChars > 0 ? sampledTokens / sampledChars : 0;
  const residuals = sample.reduce((a, s) => a + (s.tokens - ratio * s.chars) ** 2, 0);
  const meanChars = sampledChars / n;
  const standardError =
    n > 1 && meanChars > 0 ? Math.sqrt(((1 - n / sent) * residuals) / (n - 1) / n) / meanChars : 0;
  return {
    textTokens: Math.round(ratio * chars),
    tokenSample: {
      requests: n,
      of: sent,
      errorPct: ratio > 0 ? (196 * standardError) / ratio : 0,
    },
  };
}
