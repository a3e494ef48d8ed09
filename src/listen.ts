import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts an HTTP server (loopback by default, port 0 = any free one) and says where it is. */
export async function listen(
  server: Server,
  options: { port?: number; host?: string } = {},
): Promise<{ host: string; port: number; url: string }> {
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { host, port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
}
