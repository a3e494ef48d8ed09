import OpenAI, { AzureOpenAI } from 'openai';
import { uploadingFetch } from './upload-fetch.js';

/** OpenAI settings: the SDK's own environment variables, read by `loadConfig`. */
export interface OpenAIConfig {
  apiKey: string;
  baseURL?: string;
  organization?: string;
  project?: string;
  webhookSecret?: string;
  /** Per-request timeout; uploads and downloads of 200 MB files need minutes. */
  timeoutMs?: number;
  maxRetries?: number;
}

/** Azure OpenAI settings, the `AzureOpenAI` client's own environment variables. */
export interface AzureConfig {
  /** AZURE_OPENAI_ENDPOINT: `https://<resource>.openai.azure.com`. */
  endpoint: string;
  apiKey: string;
  /** OPENAI_API_VERSION: one that serves the Batch and Files APIs. */
  apiVersion: string;
  timeoutMs?: number;
  maxRetries?: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/**
 * The one place an OpenAI client is made: every activity reaches the provider through it. A
 * server that answers in other shapes than OpenAI's gets a `fetch` that rewrites them.
 */
export function createOpenAIClient(
  config: OpenAIConfig,
  fetch: typeof globalThis.fetch | undefined = undefined,
): OpenAI {
  return new OpenAI({
    fetch: fetch ?? uploadingFetch,
    apiKey: config.apiKey,
    baseURL: config.baseURL,
    organization: config.organization,
    project: config.project,
    webhookSecret: config.webhookSecret,
    timeout: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxRetries: config.maxRetries ?? 2,
  });
}

/** Azure OpenAI's client: the same resources, under `/openai` with `api-key` and `api-version`. */
export function createAzureClient(config: AzureConfig): OpenAI {
  return new AzureOpenAI({
    // The base URL the SDK would make of the endpoint, given outright: left unset, the SDK
    // reads OPENAI_BASE_URL, which names the OpenAI provider's server, not Azure's.
    baseURL: `${config.endpoint.replace(/\/+$/, '')}/openai`,
    apiKey: config.apiKey,
    apiVersion: config.apiVersion,
    fetch: uploadingFetch,
    timeout: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxRetries: config.maxRetries ?? 2,
  });
}
