/**
 * Every node:http listener of the server (the main port and each tunnel port) is built here, so
 * all of them have the same bounds: a request head must arrive within --headers-timeout, a
 * connection that sends nothing at all is closed after that long too, an idle connection after
 * --idle-timeout, a kept-alive one between requests after KEEP_ALIVE_TIMEOUT_MS, heads are capped
 * in size, one source address may hold at most --max-connections-per-source connections, whether
 * a peer is a trusted proxy is decided once per connection (trusted-proxies.ts), `Expect:
 * 100-continue` is left to the routes (expect-continue.ts), and a throw in a listener costs one
 * request, not the process (contained-errors.ts).
 */

import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '#shared/logger';
import type { PublicPortLimits } from '../config';
import { containRequestErrors, containUpgradeErrors, type UpgradeListener } from './contained-errors';
import { deferContinue } from '../http/expect-continue';
import { SourceConnectionCap } from './source-connection-cap';
import { decidePeerTrust } from '../http/trusted-proxies';

/**
 * How long a kept-alive connection may wait for its next request: Node's default, set here so it
 * is one decision for every listener. A proxy that sends a request down a connection standin
 * closes at that moment retries it on a fresh one (nginx does for a cached connection). 65 s (to
 * outlast proxies' 60 s) was tried: the --fallback test after a long upload in
 * test/selector-routing.test.ts then got "socket hang up", for reasons not yet understood, so it
 * stays at Node's default.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** What a listener serves, and within which bounds. */
export interface HttpListenerOptions {
  limits: PublicPortLimits;
  /**
   * Idle time after which a connection is closed, when it must be longer than limits.idleTimeoutMs
   * (the main port holds long-polls that carry no bytes for a poll timeout).
   */
  idleTimeoutMs?: number;
  logger: Logger;
  onRequest: http.RequestListener;
  onUpgrade?: UpgradeListener;
}

/** Creates a node:http server with standin's bounds (it does not listen yet). */
export function createHttpListener(options: HttpListenerOptions): http.Server {
  const { limits, logger } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? limits.idleTimeoutMs;
  const server = http.createServer(
    {
      // Past this Node answers 431 itself.
      maxHeaderSize: limits.maxHeaderBytes,
      // A slowloris that trickles its head is cut (408) after this. Node checks it only every
      // connectionsCheckingInterval (30 s by default), so check often enough to mean it.
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
      // Uploads, downloads, server-sent events and respond POSTs may stream for hours; the head
      // must still arrive in time (headersTimeout), standin's own --request-timeout bounds the
      // wait for the app, and the idle timeout a stream that stopped.
      requestTimeout: 0,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    },
    containRequestErrors(options.onRequest, logger),
  );
  if (options.onUpgrade) server.on('upgrade', containUpgradeErrors(options.onUpgrade, logger));
  // No byte either way for this long (a stalled upload, an abandoned connection): close it.
  server.setTimeout(idleTimeoutMs);
  const cap = new SourceConnectionCap(limits.maxConnectionsPerSource);
  server.on('connection', (socket: Socket) => {
    if (!cap.admit(socket)) {
      logger.debug('connection refused: too many from one source', { source: socket.remoteAddress, limit: limits.maxConnectionsPerSource });
      socket.destroy();
      return;
    }
    decidePeerTrust(socket, limits.trustedProxies);
    // headersTimeout only counts from the first byte of a head; a connection that never sends
    // one would otherwise be held for the whole idle timeout (or, when that is shorter, it is
    // idle). Its first request lifts this.
    socket.setTimeout(Math.min(limits.headersTimeoutMs, idleTimeoutMs));
  });
  server.on('request', (req: http.IncomingMessage) => {
    if (req.socket.timeout !== idleTimeoutMs) req.socket.setTimeout(idleTimeoutMs);
  });
  server.on('upgrade', (req: http.IncomingMessage) => req.socket.setTimeout(0));
  // With a listener here Node no longer answers 100 Continue by itself; the routes send it once
  // the body has somewhere to go (expect-continue.ts).
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    deferContinue(req);
    server.emit('request', req, res);
  });
  return server;
}

/**
 * Lifts the idle timeout of the client connections that carry an upgraded connection's bytes
 * (its poll answer and respond POST): they live exactly as long as the browser's socket.
 */
export function keepOpenWhileIdle(pollAnswer: http.ServerResponse, post: http.IncomingMessage): void {
  pollAnswer.socket?.setTimeout(0);
  post.socket.setTimeout(0);
}
