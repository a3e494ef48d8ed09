// What each provider's batch accepts, checked before anything is spent: the client validates
// with these rules, and prepare splits and translates by them. Pure, without the SDKs, so the
// CLI and the workflow's activities load it cheaply.
import type { ProviderName } from '../../workflows/provider-names.js';
import { translateToAnthropic } from './anthropic/translate.js';
import { translateToGemini } from './gemini/translate.js';
import type { LineTranslator } from './translation.js';

export interface ProviderRules {
  /** Requests one batch may hold. */
  maxRequestsPerBatch: number;
  /** Bytes one batch may hold, with a margin for framing (multipart, JSON) and rounding. */
  maxBytesPerBatch: number;
  /** Turns input lines into the provider's own; null: OpenAI's lines are sent as they are. */
  translate: LineTranslator | null;
  /** The model of template mode and the demo when none is named: small, cheap, batchable. */
  templateModel: string;
}

const MB = 1024 * 1024;

/** OpenAI's Batch API, and servers that speak it: 50,000 requests and 200 MB a file. */
const OPENAI_RULES: ProviderRules = {
  maxRequestsPerBatch: 50_000,
  maxBytesPerBatch: 190 * MB,
  translate: null,
  templateModel: 'gpt-4o-mini',
};

export const PROVIDER_RULES: Record<ProviderName, ProviderRules> = {
  openai: OPENAI_RULES,
  'openai-compatible': OPENAI_RULES,
  // Azure's global batch: 100,000 lines and 200 MB a file. Its models are deployment names:
  // template mode's default assumes a deployment named after the model.
  azure: { ...OPENAI_RULES, maxRequestsPerBatch: 100_000 },
  // Anthropic's Message Batches: 100,000 requests and 256 MB a batch, sent inline as JSON.
  anthropic: {
    maxRequestsPerBatch: 100_000,
    maxBytesPerBatch: 240 * MB,
    translate: translateToAnthropic,
    templateModel: 'claude-haiku-4-5',
  },
  // Gemini's batch input file: up to 2 GB, no request limit published; parts stay at OpenAI's
  // size, which keeps each file's upload and download short.
  gemini: { ...OPENAI_RULES, translate: translateToGemini, templateModel: 'gemini-2.5-flash-lite' },
};
