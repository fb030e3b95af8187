import { Agent, createServer, IncomingHttpHeaders, IncomingMessage, request as httpRequest, ServerResponse } from 'node:http';
import { announceListeningAndExitWithParent } from './spawned-process';

/**
 * The baseline: the smallest honest Node reverse proxy. One hop, node:http in, a keep-alive
 * http.Agent out, bodies piped both ways with backpressure. Whatever standin costs above this is
 * the price of its design (long-poll hand-off, second hop, logging), not of Node itself.
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

function endToEndHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP_HEADERS.has(name)) kept[name] = value;
  }
  return kept;
}

function createProxy(target: URL): ReturnType<typeof createServer> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const upstream = httpRequest(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...endToEndHeaders(incoming.headers), host: target.host },
      },
      (upstreamResponse) => {
        outgoing.writeHead(upstreamResponse.statusCode ?? 502, endToEndHeaders(upstreamResponse.headers));
        upstreamResponse.on('error', () => outgoing.destroy());
        upstreamResponse.pipe(outgoing);
      },
    );
    upstream.on('error', () => {
      if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'text/plain' });
      outgoing.end('bad gateway\n');
    });
    // pipe() rather than stream.pipeline(): same backpressure, but pipeline() builds abort
    // signals per call, which showed up as a tenth of the proxy's CPU in a profile.
    incoming.pipe(upstream);
    outgoing.on('close', () => {
      if (!outgoing.writableFinished) upstream.destroy();
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
