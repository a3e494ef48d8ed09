import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';
import { resolveTemporalBinary } from '../temporal/binaries.js';
import { PortInUseError } from './ports.js';

export interface DevServerOptions {
  /** SQLite file: runs survive a restart of the stack. */
  dbFile: string;
  ip?: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
  log?: (line: string) => void;
}

export interface RunningDevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

const TYPE_NAMES: Record<string, string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
};

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Is something (a dev server started earlier, say) already listening there? */
export function temporalReachable(address: string): Promise<boolean> {
  const [host = 'localhost', port = '7233'] = address.split(':');
  return portOpen(host, Number(port));
}

/**
 * Waits until the frontend at `address` answers `GetSystemInfo`, which is what every client and
 * worker calls first. An open port is not enough: the dev server listens before its frontend is
 * healthy, and a client connecting then fails with "Frontend is not healthy yet".
 */
export async function waitUntilServing(
  address: string,
  options: { timeoutMs: number; exited?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  while (!options.exited?.()) {
    // Closed whether or not it answered: a failed connect left open keeps the process alive.
    const connection = Connection.lazy({ address, connectTimeout: 2_000 });
    try {
      await connection.ensureConnected();
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await connection.close();
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(
        `temporal server at ${address} did not serve within ${options.timeoutMs / 1000} s: ${why}`,
      );
    }
    await delay(100);
  }
  throw new Error(`temporal server at ${address} exited before it served`);
}

/**
 * Starts `temporal server start-dev` (found by the binary resolver) with SQLite persistence and
 * Nightshift's search attributes registered, and waits until its frontend serves.
 */
export async function startTemporalDevServer(options: DevServerOptions): Promise<RunningDevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? 7233;
  const uiPort = options.uiPort ?? port + 1000;
  const bin = await resolveTemporalBinary('cli', { install: true, log: options.log });
  await mkdir(dirname(options.dbFile), { recursive: true, mode: 0o700 });
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    options.dbFile,
    '--ip',
    ip,
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--namespace',
    options.namespace ?? 'default',
    '--log-level',
    'error',
    '--ui-disable-news-fetch',
    ...SEARCH_ATTRIBUTES.flatMap((key) => [
      '--search-attribute',
      `${key.name}=${TYPE_NAMES[key.type]}`,
    ]),
  ];
  const child: ChildProcess = spawn(bin.path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // 'exit' can come before the last of stderr is read: the reason it exited is in that tail.
  const stderrRead = new Promise((resolve) => child.stderr?.once('close', resolve));

  try {
    await waitUntilServing(`${ip}:${port}`, {
      timeoutMs: 60_000,
      exited: () => child.exitCode !== null,
    });
  } catch (err) {
    if (child.exitCode !== null) {
      await stderrRead;
      const message = `temporal dev server exited with ${child.exitCode}:\n${stderr.trim()}`;
      throw /address already in use/.test(stderr)
        ? new PortInUseError(message)
        : new Error(message);
    }
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address: `${ip}:${port}`,
    uiUrl: `http://${ip}:${uiPort}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
