import { type ArtifactStore, StoreSettingsError } from '../artifacts.js';
import type { NightshiftConfig } from '../config.js';
import { openStore } from '../store/index.js';
import { UsageError } from './common.js';

/**
 * The store NIGHTSHIFT_STORE names, once it answered: a setting that does not work is a usage
 * error (exit 2) in one line naming it, before anything is submitted or any task is taken.
 */
export async function checkedStore(config: NightshiftConfig): Promise<ArtifactStore> {
  try {
    const store = await openStore(config);
    await store.check();
    return store;
  } catch (err) {
    if (err instanceof StoreSettingsError) throw new UsageError(err.message);
    throw err;
  }
}
