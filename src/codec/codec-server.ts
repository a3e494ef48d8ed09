import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { listen } from '../listen.js';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
  ),
  data: Buffer.from(p.data ?? '', 'base64'),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

async function readJson(req: IncomingMessage): Promise<{ payloads?: JsonPayload[] }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export interface CodecServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Temporal's remote codec protocol (`POST /encode`, `POST /decode`), so the Temporal UI and CLI
 * can show decrypted payloads (`temporal server start-dev --ui-codec-endpoint <url>`). It holds
 * the keys: run it where the people allowed to read payloads can reach it, never publicly.
 */
export async function startCodecServer(
  codec: PayloadCodec,
  options: { port?: number; host?: string; allowOrigin?: string } = {},
): Promise<CodecServer> {
  const allowOrigin = options.allowOrigin ?? 'http://localhost:8233';
  const server: Server = createServer((req, res) => {
    res.setHeader('access-control-allow-origin', allowOrigin);
    res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
    res.setHeader('access-control-allow-headers', 'content-type, x-namespace, authorization');
    res.setHeader('access-control-allow-credentials', 'true');
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    const op = req.url?.endsWith('/encode')
      ? 'encode'
      : req.url?.endsWith('/decode')
        ? 'decode'
        : null;
    if (req.method !== 'POST' || !op) {
      res.writeHead(404).end();
      return;
    }
    readJson(req)
      .then(async (body) => {
        const payloads = await codec[op]((body.payloads ?? []).map(fromJson));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ payloads: payloads.map(toJson) }));
      })
      .catch((err: unknown) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: (err as Error).message }));
      });
  });
  const { url } = await listen(server, options);
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
