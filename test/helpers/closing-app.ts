/**
 * An app that closes a kept-alive connection as the next request arrives on it: the first
 * request on each connection gets a keep-alive `200 ok`, any later one on the same connection is
 * met by a close and no answer. It makes certain the race a proxy meets with an app that closes
 * idle connections (the app never saw the request), so a test can check what gets resent.
 */

import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ClosingApp {
  port: number;
  /** Request lines in the order they arrived, the unanswered ones included. */
  seen: string[];
  /** How many requests the app met with a close. */
  closedUnanswered(): number;
  close(): Promise<void>;
}

export async function startClosingApp(): Promise<ClosingApp> {
  const seen: string[] = [];
  let closedUnanswered = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let answered = 0;
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.length > 64 * 1024) return void socket.destroy();
      if (!head.includes('\r\n\r\n')) return;
      seen.push(head.slice(0, head.indexOf('\r\n')));
      head = '';
      if (answered++ > 0) {
        closedUnanswered++;
        socket.destroy();
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    closedUnanswered: () => closedUnanswered,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
