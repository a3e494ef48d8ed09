import { createServer, type Server } from 'node:net';

/** Where `nightshift dev` puts Temporal's frontend and its UI unless told otherwise. */
export const DEV_PORT = 7233;
export const DEV_UI_PORT = 8233;

/** A port the stack was asked to use is taken (by another `nightshift dev`, or anyone). */
export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

function listening(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * `count` distinct ports free on loopback right now (the OS picks them). They are all held open
 * until the last is picked, so the OS cannot hand out the same one twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listening());
    return servers.map((server) => {
      const address = server.address();
      return typeof address === 'object' && address ? address.port : 0;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  }
}

/** A port free on loopback right now. */
export async function freePort(): Promise<number> {
  const [port = 0] = await freePorts(1);
  return port;
}

/**
 * Starts something on a Temporal port and a UI port that are free, picking again when another
 * process took one between the pick and the bind (a free port is only free until someone binds
 * it); three picks, then the error stands.
 */
export async function onFreePorts<T>(
  start: (ports: { port: number; uiPort: number }) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const [port = 0, uiPort = 0] = await freePorts(2);
    try {
      return await start({ port, uiPort });
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt === 3) throw err;
    }
  }
}
