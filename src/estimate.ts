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

/** Counts the tokens of a text. */
export type TokenCounter = (text: string) => number;

/**
 * The model's tokenizer: o200k_base for the GPT-4o generation and later, cl100k_base for older
 * models. Only the one needed is loaded: each is tens of MB (o200k_base ~65 MB of RSS).
 */
export async function tokenizerFor(model: string | null): Promise<TokenCounter> {
  const encoding = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt)/.test(model ?? '')
    ? await import('gpt-tokenizer/encoding/o200k_base')
    : await import('gpt-tokenizer/encoding/cl100k_base');
  return encoding.countTokens;
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

/** Input tokens of one request body, counted with the model's tokenizer (`tokenizerFor`). */
export function inputTokensOf(
  url: string,
  body: Record<string, unknown>,
  count: TokenCounter,
): number {
  const { texts, framing } = inputOf(url, body);
  return texts.reduce((n, t) => n + count(t), framing);
}

/**
 * Requests tokenized, at most. Beyond them the tokenizer (~5 s for 200,000 chat requests on one
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

/** A request's input text kept for the tokenizer, and its length. */
interface Sampled {
  chars: number;
  texts: string[];
}

/**
 * What a requests file will cost at most, tallied request by request as the validation reads
 * them (one pass, nothing kept but a sample): input tokens counted with the model's tokenizer on
 * a uniform random sample of at most {@link ESTIMATE_SAMPLE} requests (a reservoir: the total need
 * not be known), and every request using all the output tokens it allows.
 */
export class CostTally {
  private readonly random = seededRandom(SAMPLE_SEED);
  private readonly sample: Sampled[] = [];
  private sent = 0;
  private framing = 0;
  private chars = 0;
  private outputTokens = 0;
  private unbounded = 0;

  /** `model`: the file's, when known before its lines (else the first line's). */
  constructor(private model: string | null = null) {}

  add(url: string, body: Record<string, unknown>): void {
    this.model ??= typeof body.model === 'string' ? body.model : null;
    const input = inputOf(url, body);
    const chars = input.texts.reduce((n, t) => n + t.length, 0);
    this.framing += input.framing;
    this.chars += chars;
    this.sent += 1;
    if (this.sample.length < ESTIMATE_SAMPLE) this.sample.push({ chars, texts: input.texts });
    else {
      const slot = Math.floor(this.random() * this.sent);
      if (slot < ESTIMATE_SAMPLE) this.sample[slot] = { chars, texts: input.texts };
    }
    const bound = outputBound(url, body);
    if (bound === null) this.unbounded += 1;
    this.outputTokens += bound ?? UNBOUNDED_OUTPUT_GUESS;
  }

  /** The estimate of every request added: the sample is tokenized now. */
  async estimate(): Promise<CostEstimate> {
    const { model, outputTokens, unbounded } = this;
    const count = await tokenizerFor(model);
    const sample = this.sample.map((s) => ({
      chars: s.chars,
      tokens: s.texts.reduce((n, t) => n + count(t), 0),
    }));
    const { textTokens, tokenSample } = scaled(sample, this.chars, this.sent);
    const inputTokens = this.framing + textTokens;
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
}

/** The estimate of a validated file's requests but the `skipped` line numbers (in order). */
export async function estimateSent(
  requests: ByteSource,
  skipped: readonly number[],
  /** The file's model: priced even when no line is left. */
  model: string | null,
): Promise<CostEstimate> {
  const tally = new CostTally(model);
  let next = 0;
  for await (const { lineNo, text } of readJsonlLines(requests)) {
    if (skipped[next] === lineNo) {
      next += 1;
      continue;
    }
    const { url, body } = JSON.parse(text) as { url: string; body: Record<string, unknown> };
    tally.add(url, body);
  }
  return tally.estimate();
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
