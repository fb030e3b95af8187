/**
 * An `Upgrade` request (WebSocket, or any other protocol) through a tunnel. The handshake is
 * parked and handed to a poll like any browser request; the poll answer stays open and, once the
 * app has answered 101, carries the bytes the browser sends. The client's respond POST carries
 * the 101 head and then the bytes the app sends. Each end of a byte stream is a half-close of
 * that side; a broken stream cuts the whole connection. A refused upgrade is an ordinary answer.
 */

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { newUuid } from '#shared/random-ids';
import { getHeader } from '#shared/http-headers';
import { encodeFrame } from '#shared/protocol/wire-frame';
import type { StandinErrorCode } from '#shared/protocol/error-codes';
import { HEADER } from '#shared/protocol/headers';
import { encodeMeta } from '#shared/protocol/message-codecs';
import type { RawHeaders, RequestMeta, ResponseMeta } from '#shared/protocol/messages';
import { BrowserRequest, type UpgradeHandshake } from '../core/browser-request';
import { replyNoContent } from '../http/json-reply';
import { sendStandinError } from '../http/error-page';
import type { Closable } from '../core/open-upgrades';
import { keepOpenWhileIdle } from '../listeners/http-listener';
import { formatResponseHead } from '../http/raw-response-head';
import type { ServerContext } from '../server-context';
import { mayPassOn, type Arrival } from './arrival';
import { admitToTunnel } from './tunnel-admission';
import type { Tunnel } from '../core/tunnel';
import { sourceAddressOf } from '../http/trusted-proxies';

/** How long a closed upgraded connection may take to finish its FIN exchange before it is cut. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Serves one browser Upgrade request through tunnel `name` (which may not exist). The main
 * port's selector calls this too, with the tunnel it selected.
 */
export function serveUpgradeThroughTunnel(
  ctx: ServerContext,
  name: string,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  arrival: Arrival = {},
): void {
  if (ctx.replicas && mayPassOn(ctx, arrival) && ctx.replicas.forwardUpgradeIfElsewhere(name, req, socket, head)) return;
  const request = new BrowserRequest(req, responseOnSocket(req, socket), name, ctx.logger, ctx.requestIds.next());
  markAsUpgrade(request.meta, req);
  const link = new UpgradeLink(ctx, request, socket, head);
  request.upgrade = link;
  const tunnel = admitToTunnel(ctx, name, request);
  if (tunnel) link.joinTunnel(tunnel);
}

/** Answers an upgrade request with a standin error page, for upgrades no tunnel is chosen for. */
export function refuseUpgrade(req: IncomingMessage, socket: Duplex, code: StandinErrorCode, message: string, requestId = newUuid()): void {
  sendStandinError(req, responseOnSocket(req, socket), code, { requestId, message });
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

/**
 * One upgrade request's byte streams, from its handshake until its connection closes. The
 * request's life (queue, answer, failure, finish bookkeeping) is its BrowserRequest's; this
 * adds only what an upgrade has beyond a plain request: the 101 and the two byte streams.
 */
export class UpgradeLink implements Closable, UpgradeHandshake {
  private tunnel: Tunnel | undefined;
  private pollRes: ServerResponse | undefined;
  private post: IncomingMessage | undefined;
  /** The browser's address, whose waiting handshakes are bounded (tunnel-admission.ts). */
  private readonly source: string;

  constructor(
    private readonly ctx: ServerContext,
    private readonly request: BrowserRequest,
    private readonly socket: Duplex,
    private readonly head: Buffer,
  ) {
    this.source = sourceAddressOf(request.req);
  }

  /** Counted against the source's handshakes until the app answered (or the connection closed). */
  get pendingSource(): string | undefined {
    return this.request.isAnswered || this.request.finished ? undefined : this.source;
  }

  /** The request was admitted to `tunnel`: it counts against the tunnel's upgrade limit until it finishes. */
  joinTunnel(tunnel: Tunnel): void {
    this.tunnel = tunnel;
    tunnel.upgrades.add(this);
    this.request.onFinished(() => this.finish(tunnel));
  }

  /**
   * A poll took the handshake: its answer carries the meta now and stays open for the browser's
   * bytes, which flow only once the app has accepted.
   */
  handOver(pollRes: ServerResponse, queuedMs: number): void {
    this.pollRes = pollRes;
    pollRes.writeHead(200, { [HEADER.accelBuffering]: 'no', 'cache-control': 'no-store' });
    pollRes.write(encodeFrame(encodeMeta({ ...this.request.meta, queuedMs })));
    this.request.holdPollAnswer(pollRes);
    pollRes.once('close', () => {
      // The client's connection broke after the 101: the end of the upgraded connection.
      if (!pollRes.writableFinished && this.request.state === 'upgraded') this.socket.destroy();
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
      this.request.fail('app_error', 'The standin client sent a 101 head standin could not use.');
      throw error;
    }
    this.request.acceptUpgrade(meta.appMs);
    // The ServerResponse stays on the socket unused: its 'close' (when the socket closes) is what
    // finishes the request.
    this.request.res.statusCode = 101;
    if (this.tunnel) this.tunnel.counters.upgrades++;
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
    const { request } = this;
    if (request.state === 'queued') return;
    request.logger.debug('closing upgraded connection', { requestId: request.id, tunnel: request.tunnelName, reason });
    if (request.state === 'handed') {
      request.fail('tunnel_offline', `The tunnel's client went away (${reason}).`);
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
    // A WebSocket may stay silent for long; its connections to the client live as long as it does.
    keepOpenWhileIdle(pollRes, post);
    // App → browser: the POST body. Its end is the app's half-close; the POST is then answered.
    post.on('data', (chunk: Buffer) => (request.bytesOut += chunk.length));
    post.pipe(socket);
    post.once('end', () => {
      // This POST is over, never held as the client's next poll; a replica that passed it on
      // here learns that from the header (replica-forwarding.ts forwardAnswer).
      if (!postRes.headersSent) postRes.setHeader(HEADER.notAPoll, '1');
      replyNoContent(postRes);
    });
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

  /** The browser's socket closed: the app's side goes too (the poll answer is cut by the request). */
  private finish(tunnel: Tunnel): void {
    tunnel.upgrades.delete(this);
    if (this.post && !this.post.complete) this.post.destroy();
  }
}
