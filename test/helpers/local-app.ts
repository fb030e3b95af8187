/** A real local app for tests: a node:http server on 127.0.0.1, port 0. */

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalApp {
  port: number;
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** Starts `handler` as an HTTP server on a free loopback port. */
export async function startLocalApp(handler: http.RequestListener, port = 0, options: http.ServerOptions = {}): Promise<LocalApp> {
  const server = http.createServer(options, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An app that echoes what it received as JSON: method, url, headers, raw headers, body length. */
export function echoHandler(): http.RequestListener {
  return (req, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  };
}

/** One MiB of a known pattern (byte i is i % 251), so a cut or shifted download shows. */
export function downloadBlock(): Buffer {
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = i % 251;
  return block;
}

/** Writes `mib` download blocks to `res` with backpressure, then ends it. */
export function sendDownloadBlocks(res: http.ServerResponse, mib: number): void {
  let sent = 0;
  const block = downloadBlock();
  const write = () => {
    while (sent < mib) {
      sent++;
      if (!res.write(block)) return void res.once('drain', write);
    }
    res.end();
  };
  write();
}

/** Writes five server-sent events 150 ms apart (`data: 0` … `data: 4`), then ends `res`. */
export function sendFiveEvents(res: http.ServerResponse): void {
  let count = 0;
  const timer = setInterval(() => {
    res.write(`data: ${count}\n\n`);
    if (++count === 5) {
      clearInterval(timer);
      res.end();
    }
  }, 150);
}
