// The client library: what `import … from 'nightshift'` gives a script.

export { createActivities } from '../activities/index.js';
export type {
  BatchEndpoint,
  PartProgress,
  RunOptions,
  RunProgress,
  RunStatus,
  RunSummary,
} from '../workflows/types.js';
export type { ArtifactStore } from './artifacts.js';
export {
  DEFAULT_RUN_OPTIONS,
  InvalidInputError,
  Nightshift,
  newRunId,
  type ResultLine,
  Run,
  type SubmitOptions,
  type Submitted,
} from './client.js';
export {
  ConfigError,
  DEFAULT_TASK_QUEUE,
  loadConfig,
  type NightshiftConfig,
} from './config.js';
export { type Emulator, type EmulatorOptions, startEmulator } from './emulator/index.js';
export type { JsonSchema } from './output-schema.js';
export { costOf } from './pricing.js';
export {
  createOpenAIClient,
  type OpenAIConfig,
} from './providers/openai/client.js';
export { formatValidationError, validateRequestsFile } from './requests.js';
export { openStore } from './store/index.js';
export { LocalArtifactStore } from './store/local.js';
export { chatRequest, renderTemplate, type TemplateOptions } from './templates.js';
export {
  connectClient,
  type TemporalConfig,
} from './temporal/connection.js';
export { createNightshiftWorker } from './worker.js';
