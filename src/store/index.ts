import type { ArtifactStore } from '../artifacts.js';
import { nightshiftHome } from '../config.js';
import { LocalArtifactStore } from './local.js';

/**
 * The store `NIGHTSHIFT_STORE` names: `s3://bucket/prefix`, or, unset, the local folder under
 * NIGHTSHIFT_HOME. The S3 client is loaded only when it is used: it is large.
 */
export async function openStore(env: NodeJS.ProcessEnv = process.env): Promise<ArtifactStore> {
  const url = env.NIGHTSHIFT_STORE?.trim();
  if (!url) return new LocalArtifactStore(nightshiftHome(env));
  const { S3ArtifactStore, s3ConfigFromEnv } = await import('./s3.js');
  return new S3ArtifactStore(url, s3ConfigFromEnv(env));
}
