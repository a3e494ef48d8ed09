import type { Store } from '../store.js';
import type { LineCounter } from '../uploads.js';

interface UploadSession {
  path: string;
  displayName: string;
  mimeType: string;
  counter: LineCounter;
}

/**
 * What the Gemini facade keeps beside the shared store, per store (so a reset, which makes a new
 * store, forgets it too). None of it is persisted: an upload in flight or a deleted batch
 * operation does not outlive the emulator process.
 */
interface FacadeState {
  uploads: Map<string, UploadSession>;
  /** Batch operations deleted through the API (deleting one does not cancel it). */
  deletedBatches: Set<string>;
  /** Responses files being made or made, by batch id (null: the batch has none). */
  responses: Map<string, Promise<string | null>>;
}

const states = new WeakMap<Store, FacadeState>();

export function facade(store: Store): FacadeState {
  let state = states.get(store);
  if (!state) {
    state = { uploads: new Map(), deletedBatches: new Set(), responses: new Map() };
    states.set(store, state);
  }
  return state;
}
