/**
 * An `Upgrade` request (WebSocket, or any other protocol) through a tunnel. The handshake is
 * parked and handed to a poll like any browser request; the poll answer stays open and, once the
 * app has answered 101, carries the bytes the browser sends. The client's respond POST carries
 * the 101 head and then the bytes the app sends. Each end of a byte stream is a half-close of
 * that side; a broken stream cuts the whole connection. A refused upgrade is an ordinary answer.
 */

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { newUuid } from '../shared/random-ids';
import { getHeader } from '../shared/http-headers';
import { failIfHeadTooLarge } from './head-size-check';
import { encodeFrame } from '../shared/wire-frame';
import { encodeMeta, HEADER, type RawHeaders, type RequestMeta, type ResponseMeta, type StandinErrorCode } from '../shared/protocol';
import { logAccess } from './access-log';
import { BrowserRequest, type UpgradeHandshake } from './browser-request';
import { replyNoContent } from './control-reply';
import { sendStandinError } from './error-page';
import type { Closable } from './open-upgrades';
import { formatResponseHead } from './raw-response-head';
import { recentRequestOf } from './recent-requests';
import type { ServerContext } from './server-context';
import { browserErrorFor } from './stop-tunnel';
import type { Tunnel } from './tunnel';

/** How long a closed upgraded connection may take to finish its FIN exchange before it is cut. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Serves one browser Upgrade request through tunnel `name` (which may not exist). The main
 * port's selector calls this too, with the tunnel it selected.
 */
export function serveUpgradeThroughTunnel(ctx: ServerContext, name: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const request = new BrowserRequest(req, responseOnSocket(req, socket), name, ctx.logger);
  markAsUpgrade(request.meta, req);
  const tunnel = ctx.registry.get(name);
  const refusal = refusalFor(ctx, name, tunnel);
  if (refusal) {
    if (tunnel) {
      tunnel.counters.requests++;
      tunnel.counters.errors++;
    }
    socket.once('close', () => logAccess(request));
    request.fail(refusal.code, refusal.message);
    return;
  }
  new UpgradeLink(ctx, tunnel!, request, socket, head).start();
}

/** Answers an upgrade request with a standin error page, for upgrades no tunnel is chosen for. */
export function refuseUpgrade(req: IncomingMessage, socket: Duplex, code: StandinErrorCode, message: string): void {
  sendStandinError(req, responseOnSocket(req, socket), code, { requestId: newUuid(), message });
}

function refusalFor(ctx: ServerContext, name: string, tunnel: Tunnel | undefined): { code: StandinErrorCode; message: string } | undefined {
  if (ctx.drain.draining) return { code: 'tunnel_offline', message: 'The standin server is shutting down; retry in a moment.' };
  if (!tunnel) return { code: 'tunnel_offline', message: `No tunnel named ${name} is registered.` };
  if (tunnel.state === 'stopped' && (tunnel.stopReason === 'expired' || tunnel.stopReason === 'stopped')) return browserErrorFor(name, tunnel.stopReason);
  if (!tunnel.isOnline) return { code: 'tunnel_offline', message: `Tunnel ${name} has no connected standin client.` };
  if (tunnel.upgrades.size >= ctx.config.maxUpgradesPerTunnel) {
    return { code: 'upgrade_limit', message: `Tunnel ${name} already carries ${ctx.config.maxUpgradesPerTunnel} open upgraded connections (WebSockets).` };
  }
  return undefined;
}

function markAsUpgrade(meta: RequestMeta, req: IncomingMessage): void {
  meta.upgrade = true;
  meta.hasBody = false;
  restoreUpgradeHeaders(meta.headers, req);
}

/**
 * Hop-by-hop removal dropped Connection and Upgrade, but the app needs them for this handshake
 * (RFC 9110 §7.8): put back `Connection: Upgrade` and the browser's Upgrade value, nothing more.
 */
export function restoreUpgradeHeaders(headers: RawHeaders, req: IncomingMessage): void {
  headers.push('Connection', 'Upgrade', 'Upgrade', getHeader(req.rawHeaders, 'upgrade') ?? '');
}

/**
 * A ServerResponse on the upgrade's socket, so a refused upgrade and standin's own errors are
 * answered exactly like ordinary requests; the socket is closed after that answer.
 */
export function responseOnSocket(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => endSocket(socket));
  socket.on('error', () => socket.destroy());
  return res;
}

/** Ends our side, and cuts the socket if the peer does not close its side soon after. */
export function endSocket(socket: Duplex): void {
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** One upgrade request, from its handshake until its connection closes. */
export class UpgradeLink implements Closable, UpgradeHandshake {
  private pollRes: ServerResponse | undefined;
  private post: IncomingMessage | undefined;
  private upgradedAt: number | undefined;
  private finished = false;

  constructor(
    private readonly ctx: ServerContext,
    private readonly tunnel: Tunnel,
    private readonly request: BrowserRequest,
    private readonly socket: Duplex,
    private readonly head: Buffer,
  ) {}

  /** Parks the handshake for a poll, within the tunnel's queue and the request timeout. */
  start(): void {
    const { tunnel, request, ctx } = this;
    tunnel.counters.requests++;
    tunnel.counters.inFlight++;
    tunnel.upgrades.add(this);
    request.upgrade = this;
    this.socket.once('close', () => this.finish());
    if (failIfHeadTooLarge(request)) return;
    if (!tunnel.session.offer(request)) {
      request.fail('queue_full', `${ctx.config.maxQueuedRequests} requests are already waiting for tunnel ${tunnel.name}.`);
      return;
    }
    request.startTimeout(ctx.config.requestTimeoutMs, () => {
      tunnel.session.withdraw(request);
      ctx.handed.remove(request.id);
      this.pollRes?.destroy();
      request.fail('timeout', `The local app did not answer the upgrade within ${ctx.config.requestTimeoutMs / 1000} s.`);
    });
  }

  /**
   * A poll took the handshake: its answer carries the meta now and stays open for the browser's
   * bytes, which flow only once the app has accepted.
   */
  handOver(pollRes: ServerResponse, queuedMs: number): void {
    this.pollRes = pollRes;
    pollRes.writeHead(200, { [HEADER.accelBuffering]: 'no', 'cache-control': 'no-store' });
    pollRes.write(encodeFrame(encodeMeta({ ...this.request.meta, queuedMs })));
    pollRes.once('close', () => {
      if (pollRes.writableFinished) return;
      // The client's connection broke: before the answer that is tunnel_offline, after a 101 the end.
      if (this.upgradedAt !== undefined) this.socket.destroy();
      else if (this.request.state !== 'answered') {
        this.ctx.handed.remove(this.request.id);
        this.request.fail('tunnel_offline', 'The connection to the standin client broke during the upgrade handshake.');
      }
    });
  }

  /**
   * The client's answer to the handshake. A 101 is taken here (true); anything else ends the
   * poll answer and is left to the ordinary respond path (false).
   */
  takeResponse(meta: ResponseMeta, post: IncomingMessage, postRes: ServerResponse): boolean {
    if (meta.kind !== 'response' || meta.status !== 101) {
      this.pollRes?.end();
      return false;
    }
    let head: string;
    try {
      head = formatResponseHead(101, [...meta.headers, 'X-Standin-Request-Id', this.request.id]);
    } catch (error) {
      this.pollRes?.end();
      this.request.fail('app_error', 'The standin client sent a 101 head standin could not use.');
      throw error;
    }
    this.request.acceptUpgrade(meta.appMs);
    // The ServerResponse stays on the socket unused: its 'close' (when the socket closes) is what
    // the session waits for to forget the request.
    this.request.res.statusCode = 101;
    this.upgradedAt = performance.now();
    this.tunnel.counters.inFlight--;
    this.tunnel.counters.upgrades++;
    this.ctx.metrics.observeUpgradeAccepted();
    this.socket.write(head);
    this.connect(post, postRes);
    return true;
  }

  /**
   * Closes the connection from standin's side (session over, server shutting down). A handshake
   * still queued is left to the session, which moves it to a new client or fails it.
   */
  close(reason: string): void {
    if (this.request.state === 'queued') return;
    this.request.logger.debug('closing upgraded connection', { requestId: this.request.id, tunnel: this.tunnel.name, reason });
    if (this.request.state === 'handed') {
      this.ctx.handed.remove(this.request.id);
      this.pollRes?.destroy();
      this.request.fail('tunnel_offline', `The tunnel's client went away (${reason}).`);
      return;
    }
    // FIN to both ends; what is still open is cut when the browser's socket closes (finish).
    this.pollRes?.end();
    endSocket(this.socket);
  }

  /** Pipes both ways with backpressure; each end is passed on as a half-close, each break as a cut. */
  private connect(post: IncomingMessage, postRes: ServerResponse): void {
    const { socket, request } = this;
    const pollRes = this.pollRes!;
    this.post = post;
    (socket as Socket).setNoDelay?.(true);
    // App → browser: the POST body. Its end is the app's half-close; the POST is then answered.
    post.on('data', (chunk: Buffer) => (request.bytesOut += chunk.length));
    post.pipe(socket);
    post.once('end', () => replyNoContent(postRes));
    post.once('close', () => {
      if (!post.complete) socket.destroy();
    });
    // Browser → app: what arrived with the handshake, then the socket. Its end is the browser's half-close.
    if (this.head.length > 0) {
      request.bytesIn += this.head.length;
      pollRes.write(this.head);
    }
    socket.on('data', (chunk: Buffer) => (request.bytesIn += chunk.length));
    socket.pipe(pollRes);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const { tunnel, request } = this;
    tunnel.upgrades.delete(this);
    request.clearTimeout();
    if (request.state === 'queued') tunnel.session.withdraw(request);
    // The browser left before the app answered: a late answer from the client finds nothing.
    if (request.state !== 'answered') this.ctx.handed.remove(request.id);
    if (this.post && !this.post.complete) this.post.destroy();
    if (this.pollRes && !this.pollRes.writableEnded) this.pollRes.destroy();
    tunnel.counters.bytesIn += request.bytesIn;
    tunnel.counters.bytesOut += request.bytesOut;
    tunnel.recentRequests.add(recentRequestOf(request));
    if (this.upgradedAt === undefined) {
      tunnel.counters.inFlight--;
      if (request.errorCode) tunnel.counters.errors++;
      this.ctx.metrics.observeRequest(request, (performance.now() - request.receivedAt) / 1000);
      logAccess(request);
      return;
    }
    this.ctx.metrics.observeUpgradeClosed(request.bytesIn, request.bytesOut);
    request.logger.info('upgraded connection closed', {
      requestId: request.id,
      tunnel: tunnel.name,
      method: request.req.method,
      path: request.req.url,
      status: 101,
      protocol: getHeader(request.req.rawHeaders, 'upgrade'),
      bytesIn: request.bytesIn,
      bytesOut: request.bytesOut,
      appMs: Math.round(request.appMs * 10) / 10,
      openMs: Math.round(performance.now() - this.upgradedAt),
    });
  }
}
