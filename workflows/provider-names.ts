// The batch APIs a run can go through, in a module of their own: the CLI's option definitions
// list them without loading anything else.

export const PROVIDER_NAMES = [
  'openai',
  'azure',
  'anthropic',
  'gemini',
  'openai-compatible',
] as const;

export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** The provider of a run that names none (and of every run started before runs could). */
export const DEFAULT_PROVIDER: ProviderName = 'openai';
