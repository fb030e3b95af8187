/**
 * Upgrade requests (WebSockets) on the main port that select no live tunnel, proxied to
 * --fallback: everyone who has not picked a developer's laptop keeps the cluster app's
 * WebSockets too. The same rules as through a tunnel: the 101 and its headers pass untouched,
 * a refused upgrade is relayed as a response, bytes flow both ways with backpressure, a
 * half-close is passed on and a cut on either side cuts the other.
 */

import { loggedPath } from '#shared/trace-fields';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { newUuid } from '#shared/random-ids';
import { withoutHopByHop } from '#shared/http-headers';
import type { Logger } from '#shared/logger';
import { sendStandinError } from '../http/error-page';
import { fallbackRequestOptions } from './fallback-proxy';
import { buildForwardHeaders } from '../http/forward-headers';
import { OpenUpgrades } from '../core/open-upgrades';
import { formatResponseHead } from '../http/raw-response-head';
import { endSocket, responseOnSocket, restoreUpgradeHeaders } from './upgrade-traffic';

export class FallbackUpgrades {
  private readonly transport: typeof http | typeof https;
  /** Upgraded connections open now; server shutdown closes them (server.close() would wait for them). */
  private readonly open = new OpenUpgrades();

  constructor(
    readonly origin: URL,
    private readonly headTimeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.transport = origin.protocol === 'https:' ? https : http;
  }

  /** Proxies one upgrade request to the fallback; `selected` is the tunnel it asked for, if any. */
  serve(req: http.IncomingMessage, socket: Duplex, head: Buffer, selected?: string): void {
    const id = newUuid();
    const receivedAt = performance.now();
    const res = responseOnSocket(req, socket);
    const headers = buildForwardHeaders(req, id);
    restoreUpgradeHeaders(headers, req);
    const upstream = this.transport.request(fallbackRequestOptions(this.origin, req, headers, false));
    const log = (status: number, extra: Record<string, unknown> = {}) =>
      this.logger.info('forwarded upgrade to fallback', {
        requestId: id,
        ...(selected ? { tunnel: selected } : {}),
        method: req.method,
        path: loggedPath(req.url),
        status,
        totalMs: Math.round(performance.now() - receivedAt),
        ...extra,
      });
    const timer = setTimeout(() => {
      upstream.destroy();
      sendStandinError(req, res, 'timeout', {
        requestId: id,
        message: `The cluster app did not answer the upgrade within ${this.headTimeoutMs / 1000} s.`,
      });
    }, this.headTimeoutMs);
    timer.unref();
    const abandon = () => upstream.destroy();
    socket.once('close', abandon);
    upstream.once('upgrade', (upstreamRes: http.IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
      clearTimeout(timer);
      socket.off('close', abandon);
      res.detachSocket(socket as Socket);
      socket.write(formatResponseHead(101, [...upstreamRes.rawHeaders, 'X-Standin-Request-Id', id]));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      joinSockets(socket, upstreamSocket);
      const connection = { close: () => endSocket(socket) };
      this.open.add(connection);
      socket.once('close', () => {
        this.open.delete(connection);
        log(101);
      });
    });
    upstream.once('response', (upstreamRes: http.IncomingMessage) => {
      clearTimeout(timer);
      const relayed = withoutHopByHop(upstreamRes.rawHeaders);
      relayed.push('X-Standin-Request-Id', id);
      res.writeHead(upstreamRes.statusCode ?? 502, relayed);
      upstreamRes.pipe(res);
      log(upstreamRes.statusCode ?? 502);
    });
    upstream.once('error', (error) => {
      clearTimeout(timer);
      if (res.headersSent || socket.destroyed) return void socket.destroy();
      this.logger.warn('fallback upgrade failed', { requestId: id, error: error.message });
      sendStandinError(req, res, 'fallback_unreachable', {
        requestId: id,
        message: 'standin could not reach the cluster app it sends unselected requests to.',
      });
    });
    upstream.end();
  }

  /** Closes every upgraded connection to the fallback (server shutdown). */
  closeAll(reason: string): void {
    this.open.closeAll(reason);
  }
}

/** Pipes two sockets into each other: an end is passed on as a half-close, a cut cuts both. */
export function joinSockets(browser: Duplex, app: Socket): void {
  app.allowHalfOpen = true;
  app.setTimeout(0);
  app.on('error', () => app.destroy());
  browser.pipe(app);
  app.pipe(browser);
  // Once one side is closed, everything it had to pass on has been passed (pipe ended the other).
  browser.once('close', () => app.destroy());
  app.once('close', () => browser.destroy());
}
