/**
 * POST /_standin/v1/tunnels/<name>/outbound: a local app's call to an in-cluster service,
 * brought by its client's cluster proxy. The server checks the caller's session, the
 * --outbound-allow rules and the address policy, makes the call, and streams the service's
 * answer back framed (shared/protocol/outbound.ts). Bodies stream both ways with backpressure
 * (pipe); nothing is buffered whole. Each call gets one access log line and its metrics when
 * it ends, however it ends.
 *
 * This is a plain route with no state beyond a connection pool, so whichever server process
 * receives the call can make it.
 */

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { StandinError } from '#shared/errors';
import { withoutHopByHop } from '#shared/http-headers';
import type { Logger } from '#shared/logger';
import { encodeFrame, readFrame } from '#shared/protocol/wire-frame';
import {
  OUTBOUND_ERROR_STATUS,
  parseOutboundRequestMeta,
  type OutboundErrorBody,
  type OutboundErrorCode,
  type OutboundRequestMeta,
  type OutboundResponseMeta,
} from '#shared/protocol/outbound';
import { HEADER } from '#shared/protocol/headers';
import { traceFields } from '#shared/trace-fields';
import { mayResendAfterClose } from '#shared/resend-rule';
import { replyError } from '../http/json-reply';
import { refusedForSession } from '../client-api/current-session';
import type { ServerContext } from '../server-context';
import { buildOutboundHeaders } from './outbound-headers';
import {
  checkedLookup,
  checkLiteralAddress,
  OutboundDeniedError,
  parseDestination,
  type OutboundDestination,
} from './outbound-destination';
import { OutboundMetrics } from './outbound-metrics';
import { findOutboundRule, suggestedRule, type OutboundRule } from './outbound-rules';

/** Serves the outbound endpoint of every tunnel. */
export class OutboundCaller {
  // No socket limit: each connection to a service serves one call, and the calls are bounded by
  // the clients' own limits. Idle kept-alive sockets are unref'd by Node and never hold the process.
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly lookup;
  private readonly metrics;

  constructor(private readonly ctx: ServerContext) {
    this.lookup = checkedLookup(ctx.config.outbound.allowPrivate);
    this.metrics = new OutboundMetrics(ctx.metrics.registry);
    const { rules, allowPrivate } = ctx.config.outbound;
    if (rules.length > 0) ctx.logger.info('outbound calls allowed', { rules: rules.map((rule) => rule.text), allowPrivate });
  }

  /** Handles one outbound POST of tunnel `name`. */
  async handle(name: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (await refusedForSession(this.ctx, name, req, res)) return;
    let meta: OutboundRequestMeta;
    try {
      // Bounded: a client that stalls before its frame is complete cannot hold the call open.
      meta = parseOutboundRequestMeta(await readFrame(req, { timeoutMs: this.ctx.config.requestTimeoutMs }));
    } catch (error) {
      replyError(res, 400, 'bad_request', (error as Error).message);
      req.destroy();
      return;
    }
    new OutboundCall(this.ctx, name, meta, req, res, this.metrics).start(this.agent, this.lookup);
  }
}

/** One outbound call, from the POST's meta frame to the last byte of the service's answer. */
class OutboundCall {
  private readonly startedAt = performance.now();
  private readonly logger: Logger;
  /** Request body bytes (app to service) and response body bytes (service to app), named as in the inbound access log. */
  private bytesIn = 0;
  private bytesOut = 0;
  private status = 0;
  private errorCode: OutboundErrorCode | undefined;
  private destination: OutboundDestination | undefined;
  private rule: OutboundRule | undefined;
  /** The request to the service now under way (a second one after a resend). */
  private upstream: http.ClientRequest | undefined;
  private forwardedHeaders: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly tunnel: string,
    private readonly meta: OutboundRequestMeta,
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly metrics: OutboundMetrics,
  ) {
    this.logger = ctx.logger;
    res.once('close', () => this.finish());
  }

  start(agent: http.Agent, lookup: ReturnType<typeof checkedLookup>): void {
    let destination: OutboundDestination;
    try {
      destination = parseDestination(this.meta.url);
      this.destination = destination;
      this.rule = this.allowingRule(destination);
      checkLiteralAddress(destination.host, this.ctx.config.outbound.allowPrivate);
    } catch (error) {
      const code =
        error instanceof StandinError && error.code in OUTBOUND_ERROR_STATUS ? (error.code as OutboundErrorCode) : 'outbound_bad_request';
      return this.fail(code, (error as Error).message);
    }
    if (this.meta.method.toUpperCase() === 'CONNECT')
      return this.fail('outbound_unsupported', 'CONNECT is not carried: the hop inside the cluster is plain HTTP');
    this.forwardedHeaders = buildOutboundHeaders(this.meta.headers, this.meta.id, this.tunnel, destination.authority);
    const headTimeoutMs = this.ctx.config.requestTimeoutMs;
    this.timer = setTimeout(() => {
      this.fail('outbound_timeout', `${destination.authority} sent no response head within ${headTimeoutMs / 1000} s`);
      this.upstream?.destroy();
    }, headTimeoutMs);
    this.timer.unref();
    // The client left (or its POST broke): stop the call to the service too.
    this.res.once('close', () => {
      if (!this.res.writableFinished) this.upstream?.destroy();
    });
    this.req.on('data', (chunk: Buffer) => (this.bytesIn += chunk.length));
    this.send(destination, agent, lookup, true);
  }

  private send(destination: OutboundDestination, agent: http.Agent, lookup: ReturnType<typeof checkedLookup>, mayResend: boolean): void {
    let upstream: http.ClientRequest;
    try {
      upstream = http.request({
        host: destination.host,
        port: destination.port,
        method: this.meta.method,
        path: destination.path,
        headers: this.forwardedHeaders,
        agent,
        lookup,
        setHost: false,
      });
    } catch (error) {
      // Node refuses a header name or value it cannot send (control characters) before connecting.
      return this.fail('outbound_bad_request', `the request cannot be sent: ${(error as Error).message}`);
    }
    this.upstream = upstream;
    upstream.once('response', (upstreamRes) => this.relay(upstreamRes));
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      if (this.errorCode || this.res.destroyed) return;
      if (this.res.headersSent) return void this.res.destroy();
      // A kept-alive connection the service closed just as this call went out on it: once more
      // on a new connection, when that is safe (shared/resend-rule.ts). The body is known to be
      // empty only once the POST has ended with no byte after the meta frame.
      const call = { method: this.meta.method, hasBody: !this.req.readableEnded || this.bytesIn > 0 };
      if (mayResend && upstream.reusedSocket && mayResendAfterClose(call, error.code)) return this.send(destination, agent, lookup, false);
      if (error instanceof OutboundDeniedError) this.fail('outbound_denied', error.message);
      else this.fail('outbound_unreachable', `standin could not reach ${destination.authority}: ${describeNetworkError(error)}`);
    });
    // A bodiless call has been read to its end by the first try already; pipe() would never end a second.
    if (this.req.readableEnded) upstream.end();
    else this.req.pipe(upstream);
  }

  /** The rule that allows the destination, or throws OutboundDeniedError naming the rule to add. */
  private allowingRule(destination: OutboundDestination): OutboundRule {
    const { rules } = this.ctx.config.outbound;
    const rule = findOutboundRule(rules, destination.host, destination.port);
    if (rule) return rule;
    const add = suggestedRule(destination.host, destination.port);
    const none =
      rules.length === 0
        ? 'this standin server allows no outbound calls'
        : `no --outbound-allow rule of this standin server matches ${destination.authority}`;
    throw new OutboundDeniedError(
      `${none}; to allow it, an admin adds --outbound-allow ${add} (or a glob such as *.svc.cluster.local) to the server`,
    );
  }

  private relay(upstreamRes: http.IncomingMessage): void {
    clearTimeout(this.timer);
    if (this.errorCode || this.res.destroyed) {
      upstreamRes.destroy();
      return;
    }
    this.status = upstreamRes.statusCode ?? 502;
    const meta: OutboundResponseMeta = { kind: 'outbound-response', status: this.status, headers: withoutHopByHop(upstreamRes.rawHeaders) };
    this.res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'cache-control': 'no-store',
      // Streamed answers (server-sent events) must not wait in a buffering proxy on the way.
      [HEADER.accelBuffering]: 'no',
      [HEADER.requestId]: this.meta.id,
    });
    this.res.write(encodeFrame(JSON.stringify(meta)));
    upstreamRes.on('data', (chunk: Buffer) => (this.bytesOut += chunk.length));
    upstreamRes.pipe(this.res);
    // The service broke off mid-body: cut the answer too, so the app cannot take it for whole.
    upstreamRes.once('close', () => {
      if (!upstreamRes.complete) this.res.destroy();
    });
  }

  private fail(code: OutboundErrorCode, message: string): void {
    clearTimeout(this.timer);
    this.errorCode = code;
    this.status = OUTBOUND_ERROR_STATUS[code];
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    if (!this.res.destroyed) {
      const body = JSON.stringify({ error: code, message } satisfies OutboundErrorBody);
      this.res.writeHead(this.status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        [HEADER.error]: code,
        [HEADER.requestId]: this.meta.id,
      });
      this.res.end(body);
    }
    // Whatever the client still sends is not wanted; drain it so the connection stays usable.
    this.req.unpipe();
    this.req.resume();
  }

  private finish(): void {
    clearTimeout(this.timer);
    const completed = this.res.writableFinished;
    const outcome = this.errorCode ?? (completed ? 'completed' : 'aborted');
    const totalMs = performance.now() - this.startedAt;
    this.metrics.observe(this.rule ? this.destination?.authority : undefined, outcome, totalMs / 1000, this.bytesIn, this.bytesOut);
    if (this.errorCode ? !this.logger.isWarnEnabled() : !this.logger.isInfoEnabled()) return;
    const fields = {
      ...traceFields(this.forwardedHeaders.length > 0 ? this.forwardedHeaders : this.meta.headers),
      requestId: this.meta.id,
      tunnel: this.tunnel,
      outbound: true,
      method: this.meta.method,
      destination: this.destination?.authority,
      // The query is left out: it may carry what a shared server log should not keep.
      path: this.destination?.path.split('?')[0],
      ...(this.rule ? { rule: this.rule.text } : {}),
      status: this.status,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      totalMs: Math.round(totalMs * 10) / 10,
      ...(this.errorCode ? { error: this.errorCode } : {}),
      ...(completed ? {} : { aborted: true }),
    };
    if (this.errorCode) this.logger.warn('standin answered an outbound call with an error', fields);
    else this.logger.info('forwarded outbound request', fields);
  }
}

/** A network error in words: the system code says the most (ECONNREFUSED, ENOTFOUND, ...). */
function describeNetworkError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the service running, and is the port right?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'its name does not resolve (is the service name and namespace right?)';
    case 'ECONNRESET':
      return 'the connection was reset before a response head';
    default:
      return code ? `${code}: ${error.message}` : error.message;
  }
}
