import { createServer } from 'node:net';

/** Where `nightshift dev` puts Temporal's frontend and its UI unless told otherwise. */
export const DEV_PORT = 7233;
export const DEV_UI_PORT = 8233;

/** A port free on loopback right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
