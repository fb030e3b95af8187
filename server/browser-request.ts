/**
 * One browser request from arrival to its last byte: parked under a fresh uuid v4 request id,
 * queued for its tunnel, handed to one client poll, answered once. Keeps the timings for
 * Server-Timing and the access log.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { newUuid } from '../shared/random-ids';
import type { Logger } from '../shared/logger';
import { type AppResponseMeta, type RequestMeta, type ResponseMeta, type StandinErrorCode } from '../shared/protocol';
import { sendStandinError } from './error-page';
import { sendContinueIfAwaited } from './expect-continue';
import { originFormPath } from './fallback-proxy';
import { buildForwardHeaders } from './forward-headers';
import { BodyLengthGuard, frameResponseHead } from './response-framing';
import { setHeader } from '../shared/http-headers';

/**
 * What the poll and respond routes need of an Upgrade request's link (upgrade-traffic.ts). Named
 * here, not imported, so the request model does not depend on the upgrade path and its server context.
 */
export interface UpgradeHandshake {
  /** A poll took the handshake; its answer carries the request and then the browser's bytes. */
  handOver(pollRes: ServerResponse, queuedMs: number): void;
  /** The client's answer to the handshake; true when it was a 101 and the link took it. */
  takeResponse(meta: ResponseMeta, post: IncomingMessage, postRes: ServerResponse): boolean;
}

/** How long a connection standin ended may take to close before it is destroyed. */
const CUT_GRACE_MS = 2_000;

/** Where a browser request is in its life. */
export type BrowserRequestState = 'queued' | 'handed' | 'answered';

export class BrowserRequest {
  readonly id = newUuid();
  readonly receivedAt = performance.now();
  readonly meta: RequestMeta;
  state: BrowserRequestState = 'queued';
  /** The client session this request was handed to; only it may answer. */
  sessionId: string | undefined;
  handedAt: number | undefined;
  headAt: number | undefined;
  appMs = 0;
  /** Set when standin answered instead of the app. */
  errorCode: StandinErrorCode | undefined;
  /** Bytes of request and response body that went through. */
  bytesIn = 0;
  bytesOut = 0;
  /** Set for an Upgrade request (WebSocket): its handshake and byte streams. */
  upgrade: UpgradeHandshake | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Holds the app's body to the length its head declared; set with the head. */
  private bodyGuard = new BodyLengthGuard('none');
  private surplusLogged = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly tunnel: string,
    readonly logger: Logger,
  ) {
    this.meta = {
      kind: 'request',
      id: this.id,
      method: req.method ?? 'GET',
      // Absolute form (`GET http://host/path`) reaches the app as origin form, like on the fallback path.
      url: req.url === '*' ? '*' : originFormPath(req.url),
      headers: buildForwardHeaders(req, this.id, tunnel),
      hasBody: hasRequestBody(req),
    };
  }

  /** Starts the request timeout; `onTimeout` runs once unless a response head arrives first. */
  startTimeout(timeoutMs: number, onTimeout: () => void): void {
    this.timer = setTimeout(onTimeout, timeoutMs);
    this.timer.unref();
  }

  clearTimeout(): void {
    clearTimeout(this.timer);
  }

  markHanded(sessionId: string): void {
    this.state = 'handed';
    this.sessionId = sessionId;
    this.handedAt = performance.now();
    // The body now has somewhere to go: a browser waiting for 100 Continue may send it.
    sendContinueIfAwaited(this.req, this.res);
  }

  /**
   * Writes the app's response head to the browser, with standin's own headers added; a head
   * that cannot be framed safely (response-framing.ts) is answered 502 app_error instead.
   */
  sendResponseHead(response: AppResponseMeta): void {
    this.appMs = response.appMs;
    const framed = frameResponseHead(this.meta.method, response);
    if (!framed.ok) {
      this.logger.warn('app response refused', { requestId: this.id, tunnel: this.tunnel, reason: framed.reason });
      this.fail('app_error', `The app's response cannot be passed on: ${framed.reason}.`);
      return;
    }
    this.settle();
    this.bodyGuard = BodyLengthGuard.for(framed);
    const headers = framed.headers;
    // Which tunnel served it, on every path (port or selector), so a developer can tell at a glance.
    setHeader(headers, 'X-Standin-Tunnel', this.tunnel);
    headers.push('X-Standin-Request-Id', this.id, 'Server-Timing', this.serverTiming());
    if (framed.statusMessage === undefined) this.res.writeHead(framed.status, headers);
    else this.res.writeHead(framed.status, framed.statusMessage, headers);
  }

  /**
   * Passes on a piece of the app's body, never past the length its head declared. The response
   * ends as soon as that length is reached, so bytes the client sends later can never be read as
   * a next response; surplus that came with the last declared bytes also closes the connection.
   * False: wait for the browser's 'drain'.
   */
  writeBody(chunk: Buffer): boolean {
    if (this.res.writableEnded) {
      this.bodyGuard.take(chunk);
      this.noteSurplus();
      return true;
    }
    const passed = this.bodyGuard.take(chunk);
    if (this.bodyGuard.overran) {
      this.noteSurplus();
      // The socket, not the response: once finished, the response lets go of its socket.
      const socket = this.res.socket;
      this.res.end(passed, () => cutAfterFlush(socket));
    } else if (this.bodyGuard.reachedDeclaredEnd) {
      this.res.end(passed);
    } else if (passed.length > 0) {
      return this.res.write(passed);
    }
    return true;
  }

  /** Logs, once, that the client sent more body than the app's head declared. */
  private noteSurplus(): void {
    if (!this.bodyGuard.overran || this.surplusLogged) return;
    this.surplusLogged = true;
    this.logger.warn('app response longer than declared; surplus dropped', { requestId: this.id, tunnel: this.tunnel });
  }

  /** The app's body ended: so does the response, or, when it fell short of its declared length, the connection. */
  endBody(): void {
    if (this.res.writableEnded) return;
    if (this.bodyGuard.complete) this.res.end();
    else this.res.destroy();
  }

  /** The app accepted this Upgrade request; its 101 goes to the browser raw (upgrade-traffic.ts). */
  acceptUpgrade(appMs: number): void {
    this.settle();
    this.appMs = appMs;
  }

  /** Answers with a standin error page (or cuts the connection if the head already went out). */
  fail(code: StandinErrorCode, message?: string): void {
    this.settle();
    this.errorCode = code;
    sendStandinError(this.req, this.res, code, { requestId: this.id, tunnel: this.tunnel, message });
  }

  /** Time from arrival until a poll took it, ms (0 while queued). */
  get queueMs(): number {
    return this.handedAt === undefined ? 0 : this.handedAt - this.receivedAt;
  }

  private settle(): void {
    this.clearTimeout();
    this.state = 'answered';
    this.headAt = performance.now();
  }

  private serverTiming(): string {
    const total = (this.headAt ?? performance.now()) - this.receivedAt;
    return `queue;dur=${this.queueMs.toFixed(1)};desc="waiting for a poll", app;dur=${this.appMs.toFixed(1)};desc="local app", total;dur=${total.toFixed(1)}`;
  }
}

/**
 * Closes a connection once what was written to it has gone out. Closed, not just ended: Node
 * would go on reading requests from a half-closed socket, and answer them into the void.
 */
function cutAfterFlush(socket: Socket | null): void {
  if (!socket) return;
  socket.end();
  socket.once('finish', () => socket.destroy());
  setTimeout(() => socket.destroy(), CUT_GRACE_MS).unref();
}

function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

