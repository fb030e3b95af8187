/**
 * The pod-to-pod hops of replica mode, over the other replica's internal port
 * (docs/replicas.md "Routing"): a browser request (plain or upgrade) passed to the replica that
 * will park it, and a client's answer passed to the replica holding the browser's socket. Each
 * hop is a plain streaming reverse proxy: bodies and upgraded bytes flow with backpressure, never
 * through Redis; a cut on either side cuts the other.
 */

import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { connectionTokens, HOP_BY_HOP_HEADERS } from '#shared/http-headers';
import { newUuid } from '#shared/random-ids';
import type { Logger } from '#shared/logger';
import { HEADER } from '#shared/protocol/headers';
import type { RawHeaders } from '#shared/protocol/messages';
import { replyError } from '../http/json-reply';
import { sendStandinError } from '../http/error-page';
import { sendContinueIfAwaited } from '../http/expect-continue';
import { hasRequestBody } from '../http/request-body';
import { joinSockets } from '../data-path/fallback-upgrade';
import { OpenUpgrades } from '../core/open-upgrades';
import { formatResponseHead } from '../http/raw-response-head';
import { peerOf } from '../http/trusted-proxies';
import { endSocket, refuseUpgrade, responseOnSocket } from '../data-path/upgrade-traffic';
import { CLUSTER_AUTH_HEADER, signClusterCall } from './cluster-auth';
import type { ReplicaInfo } from './replica-directory';
import { parseHealthCheck, type HealthCheck } from '../lifecycle/health-history';

/** Paths on the internal port. */
export const INTERNAL_PATHS = {
  browser: (name: string) => `/_standin/internal/v1/tunnels/${name}/browser`,
  answer: (clientPath: string) => `/_standin/internal${clientPath.slice('/_standin'.length)}`,
  probe: (name: string) => `/_standin/internal/v1/tunnels/${name}/probe`,
};

/** Headers the first replica adds about the browser's connection (trusted-proxies.ts ForwardedPeer). */
export const FORWARDED = {
  url: 'x-standin-forwarded-url',
  peer: 'x-standin-forwarded-peer',
  trusted: 'x-standin-forwarded-trusted',
  tls: 'x-standin-forwarded-tls',
} as const;

/** Connection errors after which nothing reached the other replica, so the request may go elsewhere. */
const NOTHING_SENT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/** How long a hop waits for the other replica's response head beyond the request timeout it enforces itself. */
const HEAD_WAIT_MARGIN_MS = 10_000;

export class ReplicaForwarding {
  private readonly agent = new http.Agent({ keepAlive: true });
  /** Hops under way; a draining replica waits for them. */
  inFlight = 0;
  /** Upgraded connections relayed through this replica; closed on shutdown. */
  private readonly upgrades = new OpenUpgrades();

  constructor(
    private readonly clusterSecret: string,
    private readonly requestTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Passes a browser request for tunnel `name` to `replica`. `retryHere` serves it on this
   * replica instead when the other refused the connection before anything was sent (only for a
   * request without a body, which is still unread).
   */
  forwardBrowserRequest(
    replica: ReplicaInfo,
    name: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    onUnreachable: (retryHere: boolean) => void,
  ): void {
    const path = INTERNAL_PATHS.browser(name);
    const upstream = http.request({
      ...this.target(replica, path),
      method: req.method,
      headers: forwardedHeaders(req, this.auth(req.method ?? 'GET', path)),
    });
    this.track(res);
    const headTimer = setTimeout(
      () => upstream.destroy(new Error('no response head from the replica')),
      this.requestTimeoutMs + HEAD_WAIT_MARGIN_MS,
    );
    headTimer.unref();
    upstream.once('continue', () => sendContinueIfAwaited(req, res));
    upstream.once('response', (upstreamRes) => {
      clearTimeout(headTimer);
      relayResponse(upstreamRes, res);
    });
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(headTimer);
      if (res.headersSent || res.destroyed) return void res.destroy();
      const bodiless = !hasRequestBody(req);
      if (error.code !== undefined && NOTHING_SENT_ERRORS.has(error.code)) return onUnreachable(bodiless);
      this.logger.warn('replica hop failed', { replica: replica.id, tunnel: name, error: error.message });
      sendStandinError(req, res, 'tunnel_offline', {
        requestId: newUuid(),
        tunnel: name,
        message: 'The standin replica holding this tunnel stopped answering.',
      });
    });
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    // A bodiless request passed on again after a refused hop (replica-mode.ts) has been read to
    // its end by the first try already; pipe() would never end this one.
    if (req.readableEnded) upstream.end();
    else req.pipe(upstream);
  }

  /** Passes an Upgrade request (WebSocket) for tunnel `name` to `replica`; its bytes are relayed raw after the 101. */
  forwardBrowserUpgrade(replica: ReplicaInfo, name: string, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = INTERNAL_PATHS.browser(name);
    const headers = forwardedHeaders(req, this.auth(req.method ?? 'GET', path));
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');
    const upstream = http.request({ ...this.target(replica, path), method: req.method, headers, agent: false });
    const abandon = () => upstream.destroy();
    socket.once('close', abandon);
    socket.on('error', () => socket.destroy());
    upstream.once('upgrade', (upstreamRes: http.IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
      socket.off('close', abandon);
      socket.write(formatResponseHead(101, upstreamRes.rawHeaders));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      joinSockets(socket, upstreamSocket);
      const connection = { close: () => endSocket(socket) };
      this.upgrades.add(connection);
      socket.once('close', () => this.upgrades.delete(connection));
    });
    upstream.once('response', (upstreamRes) => relayResponse(upstreamRes, responseOnSocket(req, socket)));
    upstream.once('error', (error) => {
      if (socket.destroyed) return;
      this.logger.warn('replica hop failed', { replica: replica.id, tunnel: name, error: error.message });
      refuseUpgrade(req, socket, 'tunnel_offline', 'The standin replica holding this tunnel stopped answering.');
    });
    upstream.end();
  }

  /**
   * Passes a client's respond POST to `replica`, which holds the browser request it answers.
   * `prefix` is what was already read of the body (a group's frame). When the holder took the
   * answer (204), `onTaken` continues the POST here (as the client's next poll); any other
   * answer is relayed to the client as it is, and so is the 204 that ends an upgraded
   * connection's POST (marked not-a-poll): the client reads that answer only for its status.
   */
  forwardAnswer(
    replica: ReplicaInfo,
    clientPath: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    onTaken: () => void,
    prefix?: Buffer,
  ): void {
    const path = INTERNAL_PATHS.answer(clientPath);
    // Node adds no Host to headers given as an array, and a server refuses HTTP/1.1 without one.
    const headers: RawHeaders = ['Host', replica.advertise, CLUSTER_AUTH_HEADER, this.auth('POST', path), HEADER.notAPoll, '1'];
    const session = req.headers[HEADER.session];
    if (typeof session === 'string') headers.push(HEADER.session, session);
    const length = req.headers['content-length'];
    if (prefix === undefined && length !== undefined) headers.push('content-length', length);
    const upstream = http.request({ ...this.target(replica, path), headers });
    const hopDone = this.track(res);
    upstream.once('response', (upstreamRes) => {
      if (upstreamRes.statusCode === 204 && upstreamRes.headers[HEADER.notAPoll] === undefined) {
        upstreamRes.resume();
        // The hop is over; the POST itself lives on here as the client's next poll.
        hopDone();
        return onTaken();
      }
      if (upstreamRes.statusCode !== 204)
        this.logger.debug('the holding replica refused an answer', { replica: replica.id, status: upstreamRes.statusCode, path });
      relayResponse(upstreamRes, res);
    });
    upstream.once('error', (error) => {
      if (res.headersSent || res.destroyed) return void res.destroy();
      this.logger.warn('replica hop for an answer failed', { replica: replica.id, error: error.message });
      replyError(res, 502, 'internal_error', 'the standin replica holding this request did not take the answer');
    });
    req.once('close', () => {
      if (!req.complete) upstream.destroy();
    });
    if (prefix) upstream.write(prefix);
    req.pipe(upstream);
  }

  /** Asks `replica` to run a health probe of tunnel `name` through a poll it holds; resolves with the check. */
  probeOn(replica: ReplicaInfo, name: string, timeoutMs: number): Promise<HealthCheck> {
    const path = INTERNAL_PATHS.probe(name);
    return new Promise((resolve) => {
      const failed = (error: string) => resolve({ at: Date.now(), ok: false, latencyMs: null, error });
      const call = http.request(
        {
          ...this.target(replica, path),
          headers: { [CLUSTER_AUTH_HEADER]: this.auth('POST', path), 'content-length': '0' },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > 64 * 1024) return void res.destroy();
            chunks.push(chunk);
          });
          res.once('end', () => {
            const check = parseHealthCheck(Buffer.concat(chunks).toString('utf8'));
            if (res.statusCode === 200 && check) resolve(check);
            else failed(`the replica holding the client's polls could not run the probe (${res.statusCode})`);
          });
          res.once('error', () => failed("the replica holding the client's polls broke off the probe"));
        },
      );
      call.once('timeout', () => call.destroy(new Error('timeout')));
      call.once('error', () => failed("the replica holding the client's polls did not answer"));
      call.end();
    });
  }

  /** Closes relayed upgrades and idle pod-to-pod connections (shutdown). */
  close(): void {
    this.upgrades.closeAll('server shutting down');
    this.agent.destroy();
  }

  private target(replica: ReplicaInfo, path: string): http.RequestOptions {
    const [host, port] = splitHostPort(replica.advertise);
    return { host, port, path, method: 'POST', agent: this.agent };
  }

  private auth(method: string, path: string): string {
    return signClusterCall(this.clusterSecret, method, path);
  }

  /** Counts a hop until `done` (or the close of `res`, whichever comes first). */
  private track(res: http.ServerResponse): () => void {
    this.inFlight++;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      this.inFlight--;
    };
    res.once('close', done);
    return done;
  }
}

/** The browser's headers for the other replica: hop-by-hop and standin's own removed, what this replica knew of the connection added. */
function forwardedHeaders(req: http.IncomingMessage, auth: string): RawHeaders {
  const raw = req.rawHeaders;
  // Headers the browser's Connection names are for this hop only, as on a single server
  // (forward-headers.ts); passed on, the other replica could no longer tell and the app would see them.
  const namedInConnection = connectionTokens(raw);
  const headers: RawHeaders = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    // A browser's x-standin-* headers must not pass for this replica's own.
    if (HOP_BY_HOP_HEADERS.has(name) || namedInConnection?.has(name) || name.startsWith('x-standin-')) continue;
    headers.push(raw[i], raw[i + 1]);
  }
  const peer = peerOf(req);
  headers.push(
    FORWARDED.url,
    encodeURIComponent(req.url ?? '/'),
    FORWARDED.peer,
    peer.address,
    FORWARDED.trusted,
    peer.trusted ? '1' : '0',
    FORWARDED.tls,
    peer.tls ? '1' : '0',
  );
  headers.push(CLUSTER_AUTH_HEADER, auth);
  if (req.headers['transfer-encoding'] !== undefined) headers.push('Transfer-Encoding', 'chunked');
  return headers;
}

/** Relays the other replica's response (status, headers, body, trailers) to this replica's browser or client. */
function relayResponse(upstreamRes: http.IncomingMessage, res: http.ServerResponse): void {
  const headers: RawHeaders = [];
  const raw = upstreamRes.rawHeaders;
  for (let i = 0; i < raw.length; i += 2)
    if (!HOP_BY_HOP_HEADERS.has(raw[i].toLowerCase()) || raw[i].toLowerCase() === 'trailer') headers.push(raw[i], raw[i + 1]);
  try {
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, headers);
  } catch {
    res.destroy();
    upstreamRes.destroy();
    return;
  }
  upstreamRes.on('data', (chunk: Buffer) => {
    if (!res.write(chunk)) {
      upstreamRes.pause();
      res.once('drain', () => upstreamRes.resume());
    }
  });
  upstreamRes.once('end', () => {
    if (upstreamRes.rawTrailers.length > 0) res.addTrailers(pairsOf(upstreamRes.rawTrailers));
    res.end();
  });
  upstreamRes.once('close', () => {
    if (!upstreamRes.complete) res.destroy();
  });
  upstreamRes.on('error', () => res.destroy());
  res.once('close', () => {
    if (!res.writableFinished) upstreamRes.destroy();
  });
}

function pairsOf(raw: string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]]);
  return pairs;
}

function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), Number(address.slice(at + 1))];
}
