/**
 * A hostile local "app" on raw TCP: it reads each request head and answers with whatever bytes
 * the test chose for that path, so tests can send what node:http would never write (204 with a
 * body length, bad header characters, garbage status lines, lying lengths, resets mid-body).
 * Paths under /marker/<token> answer a well-formed 200 that echoes the token.
 */

import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** What the raw app does with one request: bytes to write, then maybe close or reset. */
export interface RawAnswer {
  bytes: Buffer | string;
  /** After writing: 'end' half-closes, 'reset' sends RST, 'hang' keeps the connection open silently. */
  then?: 'end' | 'reset' | 'hang' | 'keep-alive';
}

/** One request as the raw app saw it. */
export interface RawAppRequest {
  requestLine: string;
  /** Resolves when the app's connection of this request closed (the client aborted it, or it ended). */
  closed: Promise<void>;
}

export interface RawApp {
  port: number;
  requests: RawAppRequest[];
  close(): Promise<void>;
}

/** The head answered to /marker/<token>: a well-formed 200 whose body is the token. */
export function markerAnswer(token: string): string {
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(token)}\r\n\r\n${token}`;
}

/** Starts the raw app; `answer` picks the answer for a request line (undefined: a marker or a 404). */
export async function startRawApp(answer: (requestLine: string, path: string) => RawAnswer | undefined): Promise<RawApp> {
  const requests: RawAppRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    closed.catch(() => undefined);
    socket.once('close', () => sockets.delete(socket));
    let head = '';
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) return;
      head += chunk.toString('latin1');
      if (head.length > 256 * 1024) return void socket.destroy();
      // A kept-alive connection's next request starts after the last one's body: skip to its request line.
      const start = head.search(/[A-Z]+ \S+ HTTP\/1\.1\r\n/);
      if (start > 0) head = head.slice(start);
      const end = head.indexOf('\r\n\r\n');
      if (start < 0 || end < 0) return;
      const requestLine = head.slice(0, head.indexOf('\r\n'));
      head = head.slice(end + 4);
      // What follows the head (a body) is read and ignored; with 'keep-alive' the next request is read.
      answered = true;
      requests.push({ requestLine, closed });
      const path = requestLine.split(' ')[1] ?? '';
      const marker = /^\/marker\/([\w-]+)$/.exec(path);
      const chosen = marker
        ? { bytes: markerAnswer(marker[1]), then: 'end' as const }
        : (answer(requestLine, path) ?? { bytes: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', then: 'end' as const });
      socket.write(typeof chosen.bytes === 'string' ? Buffer.from(chosen.bytes, 'latin1') : chosen.bytes);
      if (chosen.then === 'reset') socket.resetAndDestroy();
      else if (chosen.then === 'end' || chosen.then === undefined) socket.end();
      else if (chosen.then === 'keep-alive') answered = false;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
