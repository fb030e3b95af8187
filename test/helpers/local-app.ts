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
export async function startLocalApp(handler: http.RequestListener, port = 0): Promise<LocalApp> {
  const server = http.createServer(handler);
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
