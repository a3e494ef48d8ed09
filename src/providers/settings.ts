// What the configuration knows of the providers, in a module that loads none of their SDKs:
// `loadConfig` runs for every command, `--version` included.

/**
 * Servers known to speak OpenAI's Batch API with quirks (`NIGHTSHIFT_OPENAI_COMPATIBLE_PROFILE`),
 * for `--provider openai-compatible`; `openai` is a server that has none. Their dialects are in
 * `registry.ts`.
 */
export const COMPATIBLE_PROFILE_NAMES = ['openai', 'groq', 'together'] as const;

export type CompatibleProfile = (typeof COMPATIBLE_PROFILE_NAMES)[number];

/** The API version Azure's batch guide uses when OPENAI_API_VERSION names none. */
export const DEFAULT_AZURE_API_VERSION = '2025-04-01-preview';
