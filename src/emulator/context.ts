import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BatchProcessor } from './batch-processor.js';
import type { ApiError } from './errors.js';
import type { FaultSet } from './faults.js';
import type { Store } from './store.js';
import type { SyncLimiter } from './sync-routes.js';
import type { CallCount, EndpointName, FaultRule } from './types.js';

/** Everything `reset()` throws away; rebuilt whole so stray work of old batches cannot leak in. */
export interface State {
  store: Store;
  faults: FaultSet;
  processor: BatchProcessor;
  calls: Map<EndpointName, CallCount>;
  sync: SyncLimiter;
}

/** One API call as a route handler sees it. */
export interface Call {
  state: State;
  req: IncomingMessage;
  res: ServerResponse;
  /** The `{id}` path segment, or '' for collection routes. */
  id: string;
  query: URLSearchParams;
  maxFileBytes: number;
  completionWindowMs: number;
  /** The purpose a batch's input file is uploaded with: `batch`, or Together's `batch-api`. */
  batchPurpose: string;
  /** The HTTP fault hitting this call, for handlers that shape it themselves (truncate). */
  fault: FaultRule | undefined;
  /** Overrides the HTTP status in the call counts, for connections cut on purpose. */
  outcome?: 'reset' | 'truncated';
  /**
   * Records the call in the stats (only the first time). Done once the answer is sent; handlers
   * that stream call it as soon as the status is out, so a client that has read the body
   * already finds the call counted.
   */
  count(): void;
}

export type Handler = (call: Call) => Promise<void>;

/** How one provider's API checks the caller's key and words its errors. */
export interface Dialect {
  authorized(req: IncomingMessage, query: URLSearchParams): boolean;
  missingKey(): ApiError;
  /** Headers the API requires of every call, keys aside (Anthropic's version). */
  checkRequest?(req: IncomingMessage): void;
  errorBody(err: ApiError): unknown;
}

export interface Route {
  method: string;
  path: RegExp;
  name: EndpointName;
  handler: Handler;
  /** How the route checks keys and words errors, when not as OpenAI does. */
  dialect?: Dialect;
}
