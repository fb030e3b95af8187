/**
 * Responses that end with their connection, read slowly: undici 7 cannot finish a response it
 * paused under backpressure when the app closes the connection then (nodejs/undici#5360). The
 * request hung for ever, an assertion escaped to the process, and the pool lost that connection,
 * so a few such responses wedged the tunnel. Real sockets and the client's own app pool, with
 * two connections, so a lost connection shows as a later request that never answers.
 */

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Pool } from 'undici';
import type { RequestMeta } from '#shared/protocol/messages';
import { createAppPool } from '../client/forwarding/app-pool';
import { forwardRequest } from '../client/forwarding/forward-request';

jest.setTimeout(60_000);

type Framing = 'close-delimited' | 'length, Connection: close' | 'HTTP/1.0 with length' | 'HTTP/1.0 cut short' | 'chunked, cut short';

/** The head (and whether the body the app sends is all of it) for each way a response can end with its connection. */
function responseHead(framing: Framing, size: number): string {
  switch (framing) {
    case 'close-delimited':
      return 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n';
    case 'length, Connection: close':
      return `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`;
    case 'HTTP/1.0 with length':
      return `HTTP/1.0 200 OK\r\nContent-Length: ${size}\r\n\r\n`;
    case 'HTTP/1.0 cut short':
      return `HTTP/1.0 200 OK\r\nContent-Length: ${size * 2}\r\n\r\n`;
    case 'chunked, cut short':
      return `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${size.toString(16)}\r\n`;
  }
}

let answer: { framing: Framing; size: number };
let app: net.Server;
let pool: Pool;
let target: URL;

beforeAll(async () => {
  app = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write(Buffer.concat([Buffer.from(responseHead(answer.framing, answer.size), 'latin1'), Buffer.alloc(answer.size, 0x61)]));
      socket.end();
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', () => resolve()));
  target = new URL(`http://127.0.0.1:${(app.address() as AddressInfo).port}`);
  pool = createAppPool(target, 2);
});

afterAll(async () => {
  await pool?.destroy();
  await new Promise((resolve) => app?.close(resolve));
});

/** One request whose body is read only after 200 ms; what became of it, bounded. */
async function slowlyRead(): Promise<{ outcome: string; bytes: number }> {
  const meta: RequestMeta = { kind: 'request', id: randomUUID(), method: 'GET', url: '/', headers: ['Host', target.host], hasBody: false };
  const head = await bounded(forwardRequest(pool, meta, null, { target, preserveHost: false, headersTimeoutMs: 2_000 }), 'no head');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const whole = head.takeWholeBody();
  if (whole) return { outcome: 'complete', bytes: whole.length };
  let bytes = 0;
  const outcome = await bounded(
    new Promise<string>((resolve) => {
      head.body.on('data', (chunk: Buffer) => (bytes += chunk.length));
      head.body.on('end', () => resolve('complete'));
      head.body.on('error', (error) => resolve(`broken: ${error.message}`));
    }),
    'the body never ended',
  );
  return { outcome, bytes };
}

function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(what)), 5_000))]);
}

const sizes = [64 * 1024, 70_000, 1_000_000];

test.each(sizes)('a complete response of %i bytes arrives whole, however it ends', async (size) => {
  for (const framing of ['close-delimited', 'length, Connection: close', 'HTTP/1.0 with length'] as const) {
    answer = { framing, size };
    expect([framing, await slowlyRead()]).toEqual([framing, { outcome: 'complete', bytes: size }]);
  }
});

test.each(sizes)('a response of %i bytes cut short is reported broken, and the connection is not lost', async (size) => {
  for (const framing of ['HTTP/1.0 cut short', 'chunked, cut short'] as const) {
    answer = { framing, size };
    const { outcome } = await slowlyRead();
    expect([framing, outcome]).toEqual([framing, expect.stringMatching(/^broken: the app broke the response/)]);
  }
  // Both connections of the pool still serve.
  answer = { framing: 'length, Connection: close', size: 10 };
  for (let i = 0; i < 4; i++) expect(await slowlyRead()).toEqual({ outcome: 'complete', bytes: 10 });
});
