import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * The OpenAI SDK's `fetch`, but for multipart uploads (a part of up to 200 MB): those are sent
 * through `node:http` with back-pressure, and their bytes go from disk to the socket.
 *
 * Node's `fetch` (undici) keeps every chunk of a streamed request body until the request ends
 * (nodejs/undici#4058): two 50 MB uploads at once held 110 MB of buffers in the worker. Here a
 * chunk is gone once the socket took it. Every other request goes through `fetch` as before.
 */
export async function uploadingFetch(
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  if (!(init?.body instanceof FormData)) return fetch(input, init);
  const url = new URL(input instanceof Request ? input.url : input);
  const boundary = `nightshift-${randomUUID()}`;
  const pieces = multipartPieces(init.body, boundary);
  const headers = new Headers(init.headers);
  headers.set('content-type', `multipart/form-data; boundary=${boundary}`);
  // Known in advance (the files' sizes): servers that refuse chunked uploads take it.
  headers.set('content-length', String(pieces.reduce((n, p) => n + sizeOf(p), 0)));
  const request = (url.protocol === 'https:' ? https : http).request(url, {
    method: init.method ?? 'POST',
    headers: Object.fromEntries(headers),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const response = once(request, 'response') as Promise<[http.IncomingMessage]>;
  // The response may come before the body is all sent (a server refusing it early): that
  // answer is the SDK's to read, not a failure of the send.
  const sent = pipeline(Readable.from(bytesOf(pieces)), request).catch((err: unknown) => err);
  const [message] = await Promise.race([
    response,
    sent.then((err) => {
      if (err) throw err;
      return response;
    }),
  ]);
  const status = message.statusCode ?? 500;
  // A status that carries no body must be given none.
  const body = NULL_BODY_STATUSES.has(status)
    ? null
    : (Readable.toWeb(message) as ReadableStream<Uint8Array>);
  if (!body) message.resume();
  return new Response(body, {
    status,
    statusText: message.statusMessage ?? '',
    headers: headersOf(message),
  });
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

type Piece = string | Blob;

/** A form as multipart/form-data (RFC 7578): its fields' texts, and its files as they are. */
function multipartPieces(form: FormData, boundary: string): Piece[] {
  const pieces: Piece[] = [];
  for (const [name, value] of form) {
    const disposition = `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"`;
    if (typeof value === 'string') {
      pieces.push(`${disposition}\r\n\r\n${value}\r\n`);
      continue;
    }
    pieces.push(
      `${disposition}; filename="${quoted(value.name)}"\r\n` +
        `Content-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`,
      value,
      '\r\n',
    );
  }
  pieces.push(`--${boundary}--\r\n`);
  return pieces;
}

/** A name in a quoted header parameter: quotes and line breaks percent-encoded (as browsers do). */
const quoted = (name: string) =>
  name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

const sizeOf = (piece: Piece) =>
  typeof piece === 'string' ? Buffer.byteLength(piece) : piece.size;

async function* bytesOf(pieces: Piece[]): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) {
    if (typeof piece === 'string') yield Buffer.from(piece);
    else yield* piece.stream();
  }
}

function headersOf(message: http.IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      headers.append(name, v);
    }
  }
  return headers;
}
