import { createServer, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { announceListeningAndExitWithParent } from './spawned-process';

/**
 * The baseline: the smallest honest Node reverse proxy. One hop, node:http in, a keep-alive
 * undici Pool out (the client the standin client replays with), bodies piped both ways with
 * backpressure. Whatever standin costs above this is the price of its design (long-poll
 * hand-off, second hop, logging), not of Node itself.
 *
 * Run as its own process: `node dist/bench/node-proxy.js <listenPort|0> <targetUrl>`.
 */

/** Hop-by-hop headers, not forwarded by proxies (RFC 9110 §7.6.1). */
const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Upstream connections kept; more than the benchmark's highest concurrency. */
const UPSTREAM_CONNECTIONS = 256;

function endToEndHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP_HEADERS.has(name)) kept[name] = value;
  }
  return kept;
}

function hasBody(incoming: IncomingMessage): boolean {
  const length = incoming.headers['content-length'];
  return (length !== undefined && length !== '0') || incoming.headers['transfer-encoding'] !== undefined;
}

async function forward(pool: Pool, target: URL, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
  const upstream = await pool.request({
    method: incoming.method ?? 'GET',
    path: incoming.url ?? '/',
    headers: { ...endToEndHeaders(incoming.headers), host: target.host },
    body: hasBody(incoming) ? incoming : null,
  });
  outgoing.writeHead(upstream.statusCode, endToEndHeaders(upstream.headers));
  upstream.body.on('error', () => outgoing.destroy());
  upstream.body.pipe(outgoing);
}

function createProxy(target: URL): ReturnType<typeof createServer> {
  const pool = new Pool(target.origin, { connections: UPSTREAM_CONNECTIONS });
  const server = createServer((incoming, outgoing) => {
    forward(pool, target, incoming, outgoing).catch(() => {
      if (outgoing.headersSent) {
        outgoing.destroy();
      } else {
        outgoing.writeHead(502, { 'content-type': 'text/plain' });
        outgoing.end('bad gateway\n');
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  return server;
}

if (require.main === module) {
  const [listenPort, targetUrl] = process.argv.slice(2);
  if (targetUrl === undefined) {
    process.stderr.write('usage: node-proxy.js <listenPort|0> <targetUrl>\n');
    process.exit(2);
  }
  const server = createProxy(new URL(targetUrl));
  server.listen(Number(listenPort), '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('node proxy has no TCP address');
    announceListeningAndExitWithParent(address.port);
  });
}
