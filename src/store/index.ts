import type { ArtifactStore } from '../artifacts.js';
import type { NightshiftConfig } from '../config.js';
import { LocalArtifactStore } from './local.js';

/**
 * The store the configuration names: `s3://bucket/prefix` (NIGHTSHIFT_STORE), or the local folder
 * under NIGHTSHIFT_HOME. The S3 client is loaded only when it is used: it is large.
 */
export async function openStore(
  config: Pick<NightshiftConfig, 'home' | 'store'>,
): Promise<ArtifactStore> {
  const { url, s3Endpoint } = config.store;
  if (!url) return new LocalArtifactStore(config.home);
  const { S3ArtifactStore, s3ClientConfig } = await import('./s3.js');
  return new S3ArtifactStore(url, s3ClientConfig(s3Endpoint));
}
