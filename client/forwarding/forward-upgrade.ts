/**
 * An Upgrade request (WebSocket, or any other protocol) replayed against the local app. It is
 * opened with node:http, whose 'upgrade' event hands over the 101's raw headers and the socket.
 * After a 101 the poll answer's body (the browser's bytes) is piped into the app's socket, and
 * the app's socket into a respond POST's body; each end is a half-close, each break a cut, and
 * both pipes keep backpressure. The poll slot goes back to polling at once, so open WebSockets
 * do not use up --concurrency. A refused upgrade is answered like any response.
 */

import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PassThrough, type Readable } from 'node:stream';
import { getHeader, setHeader } from '#shared/http-headers';
import type { Logger } from '#shared/logger';
import { MAX_HEAD_BYTES } from '#shared/protocol/limits';
import type { RequestMeta, ResponseMeta } from '#shared/protocol/messages';
import { AppRequestError, classifyAppError } from './forward-request';
import { BOTH_LOOPBACKS } from './loopback-lookup';
import { RequestCapture, type RequestObserver } from '../inspector/request-capture';
import { toBrowserHeaders } from './response-headers';
import type { PollAnswer, ServerConnection } from '../session/server-connection';

/**
 * Upgraded connections this client carries at once. Each holds two connections to the server
 * and one to the app; the server's own --max-upgrades (default 100) usually binds first.
 */
export const MAX_CLIENT_UPGRADES = 256;

/** What the forwarder needs from the running tunnel. */
export interface UpgradeForwarderOptions {
  connection: ServerConnection;
  name: string;
  target: URL;
  preserveHost: boolean;
  logger: Logger;
  /** Gets the record of each upgrade once it is over (terminal line, --log-file, inspector). */
  report: RequestObserver;
}

/** The app's answer to an upgrade request: accepted with a socket, or an ordinary response. */
type AppUpgradeAnswer =
  { kind: 'upgraded'; res: http.IncomingMessage; socket: Socket; head: Buffer } | { kind: 'response'; res: http.IncomingMessage };

export class UpgradeForwarder {
  private readonly appSockets = new Set<Socket>();

  constructor(private readonly options: UpgradeForwarderOptions) {}

  /**
   * Replays one upgrade request; resolves with the slot's next poll answer: idle after a 101
   * (the slot polls again at once), the respond POST's answer otherwise.
   */
  async serve(meta: RequestMeta, fromBrowser: Readable, sessionId: string, headersTimeoutMs: number): Promise<PollAnswer> {
    const startedAt = performance.now();
    // Frames are not previewed: only byte counts and the heads reach the inspector.
    const capture = new RequestCapture(meta, this.options.name, {
      previewCapBytes: 0,
      hostSentToApp: this.options.preserveHost ? undefined : this.options.target.host,
    });
    // Until the app answers, the server sends nothing on this body; after a refusal it ends it.
    fromBrowser.on('error', () => undefined);
    if (this.appSockets.size >= MAX_CLIENT_UPGRADES) {
      return this.respondFailure(
        meta,
        sessionId,
        new AppRequestError('app_error', `the standin client carries ${MAX_CLIENT_UPGRADES} upgraded connections already`),
        capture,
        startedAt,
        fromBrowser,
      );
    }
    let answer: AppUpgradeAnswer;
    try {
      answer = await openUpgrade(meta, fromBrowser, this.options.target, this.options.preserveHost, headersTimeoutMs);
    } catch (error) {
      const failure = error instanceof AppRequestError ? error : classifyAppError(error as Error, this.options.target);
      return this.respondFailure(meta, sessionId, failure, capture, startedAt, fromBrowser);
    }
    if (answer.kind === 'response') return this.respondRefusal(meta, sessionId, answer.res, capture, startedAt, fromBrowser);
    this.carry(meta, sessionId, answer, capture, fromBrowser, startedAt);
    return { kind: 'idle' };
  }

  /** Ends every upgraded connection to the app (the client is stopping). */
  closeAll(): void {
    for (const socket of this.appSockets) socket.end();
    const timer = setTimeout(() => {
      for (const socket of this.appSockets) socket.destroy();
    }, 1_000);
    timer.unref();
  }

  /** Pipes the browser's bytes to the app and the app's bytes to the server, until both ends close. */
  private carry(
    meta: RequestMeta,
    sessionId: string,
    answer: Extract<AppUpgradeAnswer, { kind: 'upgraded' }>,
    capture: RequestCapture,
    fromBrowser: Readable,
    startedAt: number,
  ): void {
    const { socket, head, res } = answer;
    const { connection, name, report, logger } = this.options;
    capture.responded(101, res.rawHeaders);
    if (head.length > 0) capture.responseChunk(head);
    this.appSockets.add(socket);
    // The browser's half-close must not end the app's side of the socket (net's default).
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    const toServer = new PassThrough();
    if (head.length > 0) toServer.write(head);
    socket.pipe(toServer);
    fromBrowser.pipe(socket);
    // Counted beside the pipes (which keep the backpressure), for the request log and inspector.
    socket.on('data', (chunk: Buffer) => capture.responseChunk(chunk));
    fromBrowser.on('data', (chunk: Buffer) => capture.upgradedRequestChunk(chunk));
    fromBrowser.once('close', () => {
      if (!fromBrowser.readableEnded) socket.destroy();
    });
    socket.on('error', (error) => logger.debug('upgraded app socket failed', { requestId: meta.id, tunnel: name, error: error.message }));
    socket.once('close', () => {
      this.appSockets.delete(socket);
      if (!toServer.writableEnded) toServer.destroy(new Error('the app closed the upgraded connection abruptly'));
      if (!fromBrowser.readableEnded) fromBrowser.destroy();
      report(capture.finish());
    });
    const accepted: ResponseMeta = { kind: 'response', status: 101, headers: res.rawHeaders, appMs: performance.now() - startedAt };
    connection.respondUpgraded(name, sessionId, meta.id, accepted, toServer).catch((error: Error) => {
      logger.debug('upgraded connection to the server broke', { requestId: meta.id, tunnel: name, error: error.message });
      socket.destroy();
    });
  }

  private respondRefusal(
    meta: RequestMeta,
    sessionId: string,
    res: http.IncomingMessage,
    capture: RequestCapture,
    startedAt: number,
    fromBrowser: Readable,
  ): Promise<PollAnswer> {
    fromBrowser.resume();
    // The app may cut its refusal's body; the respond POST notices, this keeps it from being uncaught.
    res.on('error', () => undefined);
    const { connection, name, target, report } = this.options;
    const refused: ResponseMeta = {
      kind: 'response',
      status: res.statusCode ?? 502,
      headers: toBrowserHeaders(res.rawHeaders, meta.headers, target),
      appMs: performance.now() - startedAt,
    };
    capture.responded(refused.status, refused.headers);
    capture.watchResponseBody(res, report);
    const hasBody = res.statusCode !== 204 && res.statusCode !== 304;
    if (!hasBody) res.resume();
    const length = getHeader(res.rawHeaders, 'content-length');
    return connection.respond(name, sessionId, meta.id, refused, hasBody ? res : null, {
      contentLength: hasBody && length && /^\d+$/.test(length) ? Number(length) : undefined,
    });
  }

  private respondFailure(
    meta: RequestMeta,
    sessionId: string,
    failure: AppRequestError,
    capture: RequestCapture,
    startedAt: number,
    fromBrowser: Readable,
  ): Promise<PollAnswer> {
    fromBrowser.resume();
    const appMs = performance.now() - startedAt;
    this.options.report(capture.failed(failure.failure, failure.message));
    const failed: ResponseMeta = { kind: 'failure', code: failure.failure, message: failure.message, appMs };
    return this.options.connection.respond(this.options.name, sessionId, meta.id, failed, null);
  }
}

/** Sends the upgrade request to the app; resolves with its 101 and socket, or its ordinary response. */
function openUpgrade(
  meta: RequestMeta,
  fromBrowser: Readable,
  target: URL,
  preserveHost: boolean,
  headersTimeoutMs: number,
): Promise<AppUpgradeAnswer> {
  const headers = meta.headers.slice();
  if (!preserveHost) setHeader(headers, 'Host', target.host);
  const isHttps = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      hostname: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: target.port || (isHttps ? 443 : 80),
      method: meta.method,
      path: meta.url,
      headers,
      setHost: false,
      agent: false,
      maxHeaderSize: MAX_HEAD_BYTES,
      // Local dev servers on https use self-signed certificates; the target is the developer's own machine.
      rejectUnauthorized: false,
      ...BOTH_LOOPBACKS,
    };
    const req = (isHttps ? https : http).request(options);
    const timer = setTimeout(
      () =>
        req.destroy(
          new AppRequestError('app_error', `the local app at ${target.origin} did not answer the upgrade within ${headersTimeoutMs} ms`),
        ),
      headersTimeoutMs,
    );
    // The server gave up on this handshake (request timeout, browser gone): give up on the app too.
    const abandon = () => req.destroy(new AppRequestError('app_error', 'the upgrade was abandoned before the app answered'));
    fromBrowser.once('close', abandon);
    const settle = () => {
      clearTimeout(timer);
      fromBrowser.off('close', abandon);
    };
    req.once('upgrade', (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
      settle();
      resolve({ kind: 'upgraded', res, socket, head });
    });
    req.once('response', (res: http.IncomingMessage) => {
      settle();
      resolve({ kind: 'response', res });
    });
    req.once('error', (error) => {
      settle();
      reject(error);
    });
    req.end();
  });
}
