/**
 * One browser request from arrival to its last byte: parked under a fresh uuid v4 request id,
 * queued for its tunnel, handed to one client poll, answered once. Keeps the timings for
 * Server-Timing and the access log.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { newUuid } from '../shared/random-ids';
import type { Logger } from '../shared/logger';
import { type AppResponseMeta, type RequestMeta, type ResponseMeta, type StandinErrorCode } from '../shared/protocol';
import { sendStandinError } from './error-page';
import { buildForwardHeaders } from './forward-headers';
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
      url: req.url ?? '/',
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
  }

  /** Writes the app's response head to the browser, with standin's own headers added. */
  sendResponseHead(response: AppResponseMeta): void {
    this.settle();
    this.appMs = response.appMs;
    const headers = response.headers.slice();
    // Which tunnel served it, on every path (port or selector), so a developer can tell at a glance.
    setHeader(headers, 'X-Standin-Tunnel', this.tunnel);
    headers.push('X-Standin-Request-Id', this.id, 'Server-Timing', this.serverTiming());
    this.res.writeHead(response.status, headers);
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

function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

