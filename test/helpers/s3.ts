import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePorts } from '../../src/dev/ports.js';
import { S3ArtifactStore } from '../../src/store/s3.js';
import type { SharedStore } from './rig.js';

/** Where scripts/install-seaweedfs.sh puts the server (`NIGHTSHIFT_WEED` overrides it). */
const INSTALLED = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../../../.tools/seaweedfs/weed',
);

const CREDENTIALS = { accessKeyId: 'nightshift-test', secretAccessKey: 'nightshift-test-secret' };
const REGION = 'us-east-1';

/** The `weed` binary, or null when it is not installed. */
export async function weedBinary(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const path = env.NIGHTSHIFT_WEED || INSTALLED;
  return (await access(path).then(
    () => true,
    () => false,
  ))
    ? path
    : null;
}

/**
 * Why a test needing S3 is skipped, or false to run it. In CI the server must be there
 * (.ci/run installs it), so its absence fails the test instead of skipping it.
 */
export async function s3Skip(): Promise<string | false> {
  if ((await weedBinary()) || process.env.CI) return false;
  return 'no SeaweedFS server: run scripts/install-seaweedfs.sh (a ~17 min CPU build, then cached)';
}

/** A real S3-compatible server (SeaweedFS `weed mini`) on free local ports, with one identity. */
export class S3Server {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<S3Server> {
    const weed = await weedBinary();
    if (!weed) throw new Error('SeaweedFS is not installed: run scripts/install-seaweedfs.sh');
    const dir = await mkdtemp(join(tmpdir(), 'nightshift-s3-'));
    const config = join(dir, 's3.json');
    await writeFile(
      config,
      JSON.stringify({
        identities: [
          {
            name: 'nightshift',
            credentials: [
              { accessKey: CREDENTIALS.accessKeyId, secretKey: CREDENTIALS.secretAccessKey },
            ],
            actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
          },
        ],
      }),
    );
    // Every port chosen here: the defaults of `weed mini` would collide with another server.
    const names = ['master', 'volume', 'filer', 's3'].flatMap((n) => [
      `${n}.port`,
      `${n}.port.grpc`,
    ]);
    const free = await freePorts(names.length);
    const ports = Object.fromEntries(names.map((name, i) => [name, free[i]]));
    const args = [
      'mini',
      `-dir=${join(dir, 'data')}`,
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      `-s3.config=${config}`,
      '-webdav=false',
      '-admin.ui=false',
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
      '-master.telemetry=false',
      ...Object.entries(ports).map(([flag, port]) => `-${flag}=${port}`),
    ];
    await mkdir(join(dir, 'data'));
    const child = spawn(weed, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const server = new S3Server(child, dir, `http://127.0.0.1:${ports['s3.port']}`);
    try {
      await server.ready(() => stderr);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** What a process needs in its environment to use this server, as the AWS SDK reads it. */
  get env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    };
  }

  client(): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      forcePathStyle: true,
      region: REGION,
      credentials: CREDENTIALS,
    });
  }

  /** A new bucket, and a store on it (under `prefix`). */
  async store(bucket: string, prefix = 'nightshift'): Promise<S3ArtifactStore> {
    await this.client().send(new CreateBucketCommand({ Bucket: bucket }));
    return new S3ArtifactStore(`s3://${bucket}/${prefix}`, {
      endpoint: this.endpoint,
      forcePathStyle: true,
      region: REGION,
      credentials: CREDENTIALS,
    });
  }

  /** A new bucket as the store of a rig: its client's, and every worker process's. */
  async shared(bucket: string): Promise<SharedStore> {
    const prefix = 'nightshift';
    return {
      store: await this.store(bucket, prefix),
      env: { ...this.env, NIGHTSHIFT_STORE: `s3://${bucket}/${prefix}` },
    };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((done) => this.child.once('exit', done));
      this.child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000).then(() => this.child.kill('SIGKILL'))]);
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Until S3 answers an authenticated call (the filer and volume come up after the port). */
  private async ready(log: () => string): Promise<void> {
    const client = this.client();
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`weed mini exited:\n${log()}`);
      try {
        await client.send(new ListBucketsCommand({}));
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          throw new Error(`weed mini not ready in 60 s (${(err as Error).message}):\n${log()}`);
        }
        await sleep(250);
      }
    }
  }
}
