/** A raw "browser" for Upgrade tests: one TCP connection, a handshake written by hand, the answer read byte by byte. */

import net from 'node:net';

/** The answer head of an upgrade request, and the socket with whatever came after the head. */
export interface RawUpgradeAnswer {
  status: number;
  /** Header lines as sent, `Name: value`. */
  headerLines: string[];
  socket: net.Socket;
  /** Bytes that arrived after the head in the same reads. */
  rest: Buffer;
}

/** Sends `GET <path>` with `Upgrade: <protocol>` and resolves with the answer head (bounded). */
export function rawUpgrade(
  port: number,
  path: string,
  protocol: string,
  extraHeaders: string[] = [],
  timeoutMs = 15_000,
): Promise<RawUpgradeAnswer> {
  return new Promise((resolve, reject) => {
    // Half-open allowed, so a test can keep sending after the other side has ended.
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no upgrade answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      const lines = received.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      resolve({ status, headerLines: lines.slice(1), socket, rest: received.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write(
      [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: Upgrade', `Upgrade: ${protocol}`, ...extraHeaders, '', ''].join(
        '\r\n',
      ),
    );
  });
}

/** Reads the socket until the peer ends it; resolves with everything (bounded). */
export function readToEnd(socket: net.Socket, first: Buffer = Buffer.alloc(0), timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks = [first];
    const timer = setTimeout(() => reject(new Error(`socket did not end within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.resume();
  });
}

/** The value of header `name` in raw header lines, or undefined. */
export function headerValue(lines: string[], name: string): string | undefined {
  const line = lines.find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}
