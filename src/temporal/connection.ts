import { readFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { dataConverterFor } from '../codec/encryption.js';

/** Where Temporal is, from the ecosystem's environment variables (`loadConfig`). */
export interface TemporalConfig {
  address: string;
  namespace: string;
  apiKey?: string;
  tlsCertPath?: string;
  tlsKeyPath?: string;
  /** The payload codec's keys (`src/codec/encryption.ts`): absent, payloads are not encrypted. */
  encryptionKeys?: string;
}

async function connectionOptions(config: TemporalConfig) {
  const mtls =
    config.tlsCertPath && config.tlsKeyPath
      ? {
          clientCertPair: {
            crt: await readFile(config.tlsCertPath),
            key: await readFile(config.tlsKeyPath),
          },
        }
      : null;
  // Temporal Cloud with an API key needs TLS too; mTLS brings its own.
  const tls = mtls ?? (config.apiKey ? true : undefined);
  return { address: config.address, tls, apiKey: config.apiKey };
}

export async function connectClient(config: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect(await connectionOptions(config));
  return new Client({
    connection,
    namespace: config.namespace,
    dataConverter: dataConverterFor(config.encryptionKeys),
  });
}

export async function connectWorker(config: TemporalConfig): Promise<NativeConnection> {
  // The worker's native bridge costs half a second to load: only processes that run a worker do.
  const { NativeConnection } = await import('@temporalio/worker');
  return NativeConnection.connect(await connectionOptions(config));
}
