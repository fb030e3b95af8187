/**
 * The reverse proxy to `--fallback`, the in-cluster app, for main-port traffic that selects no
 * live tunnel: everyone who has not picked a developer's laptop keeps the real app.
 *
 * It only ever connects to the operator's fallback origin; the browser's request contributes its
 * path and headers, never a host to connect to. Bodies stream both ways with backpressure
 * (pipe), hop-by-hop headers are dropped, and the app gets the same trace headers as through a
 * tunnel. Connections to the fallback are kept alive and reused.
 */

import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { newUuid } from '#shared/random-ids';
import { withoutHopByHop } from '#shared/http-headers';
import type { Logger } from '#shared/logger';
import type { StandinErrorCode } from '#shared/protocol/error-codes';
import { HEADER } from '#shared/protocol/headers';
import type { RawHeaders } from '#shared/protocol/messages';
import { sendStandinError } from '../http/error-page';
import { loggedPath, traceFields } from '#shared/trace-fields';
import { sendContinueIfAwaited } from '../http/expect-continue';
import { buildForwardHeaders, originFormPath } from '../http/forward-headers';
import { hasRequestBody } from '../http/request-body';
import { mayResendAfterClose } from '#shared/resend-rule';

/** Why a request went to the fallback, for the access log. */
export type FallbackReason = 'no_selector' | 'unknown_tunnel' | 'tunnel_offline';

/** Forwards browser requests to the fallback origin. */
export class FallbackProxy {
  // No socket limit: each outgoing connection serves one incoming browser request, so the
  // browsers' connections already bound how many there are.
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(
    readonly origin: URL,
    private readonly headTimeoutMs: number,
    private readonly logger: Logger,
    /** Told once per request when it is over (metrics). */
    private readonly onFinished: (reason: FallbackReason, errorCode: StandinErrorCode | undefined) => void = () => {},
  ) {
    const isHttps = origin.protocol === 'https:';
    this.transport = isHttps ? https : http;
    this.agent = isHttps ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  /** Proxies one browser request; `selected` is the tunnel it asked for, if any. */
  serve(req: http.IncomingMessage, res: http.ServerResponse, reason: FallbackReason, selected?: string): void {
    const exchange = new FallbackExchange(req, res, reason, selected, this.logger, this.onFinished);
    sendContinueIfAwaited(req, res);
    req.on('data', (chunk: Buffer) => (exchange.bytesIn += chunk.length));
    const options = fallbackRequestOptions(this.origin, req, buildForwardHeaders(req, exchange.id), this.agent);
    exchange.start(() => this.transport.request(options), this.headTimeoutMs);
  }

  /** Closes idle kept-alive connections to the fallback. */
  close(): void {
    this.agent.destroy();
  }
}

/** One request on its way to the fallback and back. */
class FallbackExchange {
  readonly id = newUuid();
  private readonly receivedAt = performance.now();
  bytesIn = 0;
  bytesOut = 0;
  private errorCode: StandinErrorCode | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The request to the app now under way (a second one after a resend). */
  private upstream: http.ClientRequest | undefined;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly reason: FallbackReason,
    private readonly selected: string | undefined,
    private readonly logger: Logger,
    private readonly onFinished: (reason: FallbackReason, errorCode: StandinErrorCode | undefined) => void,
  ) {
    res.once('close', () => this.finish());
  }

  /** Sends the request with `open` (one head timeout for it, resend included) and relays the answer. */
  start(open: () => http.ClientRequest, headTimeoutMs: number): void {
    this.timer = setTimeout(() => {
      this.fail('timeout', `The cluster app sent no response head within ${headTimeoutMs / 1000} s.`);
      this.upstream?.destroy();
    }, headTimeoutMs);
    this.timer.unref();
    // The browser left: stop the request to the app too.
    this.res.once('close', () => {
      if (!this.res.writableFinished) this.upstream?.destroy();
    });
    this.send(open, true);
  }

  private send(open: () => http.ClientRequest, mayResend: boolean): void {
    const upstream = open();
    this.upstream = upstream;
    upstream.once('response', (upstreamRes) => this.relay(upstreamRes));
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      // Already answered (timeout) or the browser is gone: nothing more to tell anyone.
      if (this.errorCode || this.res.destroyed) return;
      if (this.res.headersSent) return void this.res.destroy();
      // A kept-alive connection the app closed just as this request went out on it: once more
      // on a new connection, when that is safe (shared/resend-rule.ts).
      const request = { method: this.req.method ?? '', hasBody: hasRequestBody(this.req) };
      if (mayResend && upstream.reusedSocket && mayResendAfterClose(request, error.code)) return this.send(open, false);
      this.fail('fallback_unreachable', 'standin could not reach the cluster app it sends unselected requests to.', error);
    });
    // A bodiless request has been read to its end by the first try already; pipe() would never end a second.
    if (this.req.readableEnded) upstream.end();
    else this.req.pipe(upstream);
  }

  private relay(upstreamRes: http.IncomingMessage): void {
    clearTimeout(this.timer);
    const headers = withoutHopByHop(upstreamRes.rawHeaders);
    headers.push('X-Standin-Request-Id', this.id);
    // Says "this came from the cluster app, and why": a developer wondering why their laptop
    // got nothing sees it in dev tools (no_selector: no cookie; tunnel_offline: client gone).
    headers.push('X-Standin-Fallback', this.reason);
    this.res.writeHead(upstreamRes.statusCode ?? 502, headers);
    upstreamRes.on('data', (chunk: Buffer) => (this.bytesOut += chunk.length));
    upstreamRes.pipe(this.res);
    // The app broke off mid-body: the browser must not take a cut body for a whole one.
    upstreamRes.once('close', () => {
      if (!upstreamRes.complete) this.res.destroy();
    });
  }

  private fail(code: StandinErrorCode, message: string, cause?: Error): void {
    clearTimeout(this.timer);
    this.errorCode = code;
    if (cause) this.logger.warn('fallback request failed', { requestId: this.id, error: cause.message });
    if (!this.res.headersSent) this.res.setHeader(HEADER.fallback, this.reason);
    sendStandinError(this.req, this.res, code, { requestId: this.id, message });
    // Whatever the browser still sends is not wanted; drain it so the connection can close cleanly.
    this.req.resume();
  }

  private finish(): void {
    clearTimeout(this.timer);
    const fields = {
      requestId: this.id,
      fallback: this.reason,
      ...(this.selected ? { tunnel: this.selected } : {}),
      method: this.req.method,
      path: loggedPath(this.req.url),
      status: this.res.statusCode,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      totalMs: Math.round((performance.now() - this.receivedAt) * 10) / 10,
      ...(this.errorCode ? { error: this.errorCode } : {}),
      ...(this.res.writableFinished ? {} : { aborted: true }),
      ...traceFields(this.req.rawHeaders),
    };
    if (this.errorCode) this.logger.warn('standin answered with an error', fields);
    else this.logger.info('forwarded to fallback', fields);
    this.onFinished(this.reason, this.errorCode);
  }
}

/**
 * The request to the --fallback app for one browser request, plain or upgrade (they differ only
 * in the agent): the origin's host and port, the browser's method and origin-form path, the
 * forwarded headers.
 */
export function fallbackRequestOptions(
  origin: URL,
  req: Pick<http.IncomingMessage, 'method' | 'url'>,
  headers: RawHeaders,
  agent: http.Agent | false,
): http.RequestOptions {
  return {
    protocol: origin.protocol,
    hostname: origin.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: origin.port || undefined,
    method: req.method,
    path: originFormPath(req.url),
    headers: headers,
    agent,
    // The browser's Host is kept (as ingress-nginx does towards a Service), so the app sees
    // the site's host; Node must not add the fallback's own.
    setHost: false,
  };
}
