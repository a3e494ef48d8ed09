import { GoogleGenAI } from '@google/genai';

/** Gemini Developer API settings: the SDK's own (`GEMINI_API_KEY`), read by `loadConfig`. */
export interface GeminiConfig {
  apiKey: string;
  /** Where the API lives (tests: the emulator's URL). */
  baseUrl?: string;
  /** Per-request timeout; 30 s by default (downloads get minutes, see `download`). */
  timeoutMs?: number;
}

/** Downloads stream for as long as a 200 MB responses file takes; the timeout covers the body. */
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;

/**
 * The SDK, plus the two reads it has no typed method for, made through its own request path
 * (key, base URL, timeout, errors): the raw batch operation, since the SDK's `BatchJob` drops
 * `batchStats` and the operation's `error`; and a file's content as a stream, since
 * `files.download` only writes to a local path (and hangs when the connection dies midway).
 */
export class GeminiClient extends GoogleGenAI {
  /** A GET of a REST resource (`batches/…`) as the JSON the API sends. */
  async getJson(path: string): Promise<unknown> {
    return (await this.apiClient.request({ path, httpMethod: 'GET' })).json();
  }

  /** The content of a file (`files/…`). */
  async download(name: string): Promise<ReadableStream<Uint8Array>> {
    const response = await this.apiClient.request({
      path: `${name}:download`,
      httpMethod: 'GET',
      queryParams: { alt: 'media' },
      httpOptions: { timeout: DOWNLOAD_TIMEOUT_MS },
    });
    const body = response.responseInternal.body;
    if (!body) throw new Error(`download ${name}: empty response body`);
    return body;
  }
}

/** The one place a Gemini client is made. The SDK retries nothing unless told to. */
export function createGeminiClient(config: GeminiConfig): GeminiClient {
  return new GeminiClient({
    apiKey: config.apiKey,
    httpOptions: { baseUrl: config.baseUrl, timeout: config.timeoutMs ?? 30_000 },
  });
}
