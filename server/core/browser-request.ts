/**
 * One browser request from arrival to its last byte, and the one owner of its life: parked
 * under a fresh uuid v4 request id, queued for its tunnel, handed to one client poll, answered
 * once (by the app, by an upgrade, or by a standin error), then finished when its browser
 * response closes.
 *
 * Every index that holds the request (the session's queue, the handed map, the session's unfinished
 * set, the tunnel's in-flight count) registers how to leave it with `attach()`. The request leaves
 * them itself: the queue and the handed map when it is answered (no client answer is accepted
 * after that), all of them when it finishes. So no exit path (timeout, browser gone, client gone,
 * stop, shutdown) has to remember which indexes to clean, and each exit runs once.
 * Also keeps the timings for Server-Timing and the access log.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { newUuid } from '#shared/random-ids';
import type { Logger } from '#shared/logger';
import type { StandinErrorCode } from '#shared/protocol/error-codes';
import type { AppResponseMeta, RequestMeta, ResponseMeta } from '#shared/protocol/messages';
import { sendStandinError } from '../http/error-page';
import { sendContinueIfAwaited } from '../http/expect-continue';
import { hasRequestBody } from '../http/request-body';
import { buildForwardHeaders, originFormPath } from '../http/forward-headers';
import { BodyLengthGuard, frameResponseHead } from '../http/response-framing';
import { dropTrailerHeaderUnlessChunked } from '../http/response-trailers';
import { setHeader } from '#shared/http-headers';

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
export type BrowserRequestState = 'queued' | 'handed' | 'answered' | 'upgraded';

/** An index a request can be in; each is left through the function given to `attach()`. */
export type RequestIndex = 'queue' | 'handed' | 'unfinished' | 'inFlight';

/**
 * How long a request whose upload the client stopped reading waits for the client's answer
 * before it fails as tunnel_offline: the app may have answered early (401, 413).
 */
const EARLY_ANSWER_GRACE_MS = 1_000;

/** The indexes a request leaves as soon as it is answered (or upgraded, or failed). */
const LEFT_WHEN_ANSWERED: RequestIndex[] = ['queue', 'handed'];

export class BrowserRequest {
  readonly receivedAt = performance.now();
  readonly meta: RequestMeta;
  state: BrowserRequestState = 'queued';
  /** True once the browser's response closed; the request is out of every index. */
  finished = false;
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
  /**
   * The poll answer carrying this request to the client (its body, or an upgrade's bytes). Cut
   * when the request fails or finishes before it is complete, so the client learns and aborts
   * the app request instead of holding a poll slot for ever.
   */
  private pollAnswer: ServerResponse | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timeoutMs = 0;
  private readonly detachers = new Map<RequestIndex, () => void>();
  private readonly finishedListeners: Array<() => void> = [];
  /** Holds the app's body to the length its head declared; set with the head. */
  private bodyGuard = new BodyLengthGuard('none');
  private surplusLogged = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly tunnelName: string,
    readonly logger: Logger,
    /** Replica mode names the replica holding the request in its id (server/core/request-ids.ts). */
    readonly id: string = newUuid(),
  ) {
    this.meta = {
      kind: 'request',
      id: this.id,
      method: req.method ?? 'GET',
      // Absolute form (`GET http://host/path`) reaches the app as origin form, like on the fallback path.
      url: req.url === '*' ? '*' : originFormPath(req.url),
      headers: buildForwardHeaders(req, this.id, tunnelName),
      hasBody: hasRequestBody(req),
    };
    // For an upgrade too: its response sits on the socket, and closes with it.
    res.once('close', () => this.finish());
  }

  /** Records that an index holds this request, and how to take it out (replaces an earlier one). */
  attach(index: RequestIndex, leave: () => void): void {
    this.detachers.set(index, leave);
  }

  /** Takes the request out of `index` now, if it is there. */
  detach(index: RequestIndex): void {
    const leave = this.detachers.get(index);
    if (!leave) return;
    this.detachers.delete(index);
    leave();
  }

  /** Runs `listener` once, when the request has finished (every path, HTTP and upgrade). */
  onFinished(listener: () => void): void {
    if (this.finished) listener();
    else this.finishedListeners.push(listener);
  }

  /**
   * Starts the request timeout: fails the request with 504 unless an answer arrives first. The
   * same bound applies to each pause of the browser's upload (see carryBodyOn).
   */
  startTimeout(timeoutMs: number, message: string): void {
    this.timeoutMs = timeoutMs;
    this.timer = setTimeout(() => this.fail('timeout', message), timeoutMs);
    this.timer.unref();
  }

  get isAnswered(): boolean {
    return this.state === 'answered' || this.state === 'upgraded';
  }

  markHanded(sessionId: string): void {
    this.detach('queue');
    this.state = 'handed';
    this.sessionId = sessionId;
    this.handedAt = performance.now();
    // The body now has somewhere to go: a browser waiting for 100 Continue may send it.
    sendContinueIfAwaited(this.req, this.res);
  }

  /**
   * Holds `pollAnswer` as the connection carrying this request to the client, and streams the
   * browser's body into it. A body that pauses longer than the request timeout is an upload that
   * stopped: the request fails (or, when the app already answered, only the upload is cut).
   */
  carryBodyOn(pollAnswer: ServerResponse): void {
    this.holdPollAnswer(pollAnswer);
    const browserReq = this.req;
    let idleTimer: NodeJS.Timeout | undefined;
    const stopWatching = () => clearTimeout(idleTimer);
    const watch = () => {
      stopWatching();
      if (this.timeoutMs <= 0) return;
      idleTimer = setTimeout(() => this.uploadStalled(), this.timeoutMs);
      idleTimer.unref();
    };
    browserReq.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      watch();
    });
    browserReq.once('end', stopWatching);
    // The browser gave up on its upload (or its socket broke): cut the poll answer too.
    browserReq.once('close', () => {
      stopWatching();
      if (!browserReq.complete) this.cutPollAnswer();
    });
    browserReq.on('error', () => this.cutPollAnswer());
    pollAnswer.once('close', stopWatching);
    browserReq.pipe(pollAnswer);
    watch();
  }

  /** Holds `pollAnswer` open for this request (an upgrade's handshake and then its bytes). */
  holdPollAnswer(pollAnswer: ServerResponse): void {
    this.pollAnswer = pollAnswer;
    // The poll connection broke before the request went out whole: the client cannot answer.
    pollAnswer.once('close', () => {
      if (pollAnswer.writableFinished || this.isAnswered) return;
      this.req.unpipe(pollAnswer);
      if (this.upgrade) return this.fail('tunnel_offline', 'The connection to the standin client broke during the upgrade handshake.');
      // An app that answers before reading the whole upload (401, 413) ends the client's replay
      // of the body, and the client stops reading it; its answer is then on the way. Wait for it
      // briefly, as a proxy passes on such an early answer, before calling the client gone.
      const grace = setTimeout(() => {
        if (!this.isAnswered && !this.finished)
          this.fail('tunnel_offline', 'The connection to the standin client broke while it received the request.');
      }, EARLY_ANSWER_GRACE_MS);
      grace.unref();
    });
  }

  /**
   * Writes the app's response head to the browser, with standin's own headers added. False when
   * the head cannot go out: one that cannot be framed safely (response-framing.ts) or that Node
   * refuses is answered 502 app_error instead, and the caller must not send a body.
   */
  sendResponseHead(response: AppResponseMeta): boolean {
    if (this.isAnswered) return false;
    this.appMs = response.appMs;
    const framed = frameResponseHead(this.meta.method, response);
    if (!framed.ok) {
      this.logger.warn('app response refused', { requestId: this.id, tunnel: this.tunnelName, reason: framed.reason });
      this.fail('app_error', `The app's response cannot be passed on: ${framed.reason}.`);
      return false;
    }
    dropTrailerHeaderUnlessChunked(framed, this.req);
    this.settle('answered');
    this.bodyGuard = BodyLengthGuard.for(framed);
    const headers = framed.headers;
    // Which tunnel served it, on every path (port or selector), so a developer can tell at a glance.
    setHeader(headers, 'X-Standin-Tunnel', this.tunnelName);
    headers.push('X-Standin-Request-Id', this.id, 'Server-Timing', this.serverTiming());
    try {
      if (framed.statusMessage === undefined) this.res.writeHead(framed.status, headers);
      else this.res.writeHead(framed.status, framed.statusMessage, headers);
      return true;
    } catch (error) {
      this.logger.warn('app response head refused', { requestId: this.id, tunnel: this.tunnelName, reason: (error as Error).message });
      // The refused head left its reason phrase behind; the error page has its own.
      this.res.statusMessage = '';
      this.answerWithError(
        'app_error',
        'The local app sent a response head that HTTP does not allow (for example a header with a line break).',
      );
      return false;
    }
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
    this.logger.warn('app response longer than declared; surplus dropped', { requestId: this.id, tunnel: this.tunnelName });
  }

  /** The app's body ended: so does the response, or, when it fell short of its declared length, the connection. */
  endBody(): void {
    if (this.res.writableEnded) return;
    if (this.bodyGuard.complete) this.res.end();
    else this.res.destroy();
  }

  /** The app accepted this Upgrade request; its 101 goes to the browser raw (upgrade-traffic.ts). */
  acceptUpgrade(appMs: number): void {
    this.settle('upgraded');
    this.appMs = appMs;
    // An open upgraded connection is not a request in flight (graceful shutdown waits for those).
    this.detach('inFlight');
  }

  /**
   * The one error exit: answers with a standin error page (or cuts the connection if the head
   * already went out) and cuts the poll answer if it is still carrying the request. Once only:
   * a request already failed is left alone.
   */
  fail(code: StandinErrorCode, message?: string): void {
    if (this.errorCode) return;
    if (this.isAnswered) {
      // Too late for an error page: the app's answer is under way; cut it.
      this.errorCode = code;
      this.cutPollAnswer();
      this.res.destroy();
      return;
    }
    this.settle('answered');
    this.cutPollAnswer();
    this.answerWithError(code, message);
  }

  /** Time from arrival until a poll took it, ms (0 while queued). */
  get queueMs(): number {
    return this.handedAt === undefined ? 0 : this.handedAt - this.receivedAt;
  }

  private answerWithError(code: StandinErrorCode, message?: string): void {
    this.errorCode = code;
    if (this.res.destroyed) return;
    sendStandinError(this.req, this.res, code, { requestId: this.id, tunnel: this.tunnelName, message });
  }

  /** The upload paused longer than the request timeout. */
  private uploadStalled(): void {
    if (this.isAnswered) {
      this.cutPollAnswer();
      this.req.destroy();
      return;
    }
    this.fail('timeout', `The browser's upload stopped for ${this.timeoutMs / 1000} s.`);
  }

  private cutPollAnswer(): void {
    const pollAnswer = this.pollAnswer;
    if (!pollAnswer || pollAnswer.writableEnded || pollAnswer.destroyed) return;
    this.req.unpipe(pollAnswer);
    pollAnswer.destroy();
  }

  private settle(state: 'answered' | 'upgraded'): void {
    clearTimeout(this.timer);
    this.state = state;
    this.headAt = performance.now();
    for (const index of LEFT_WHEN_ANSWERED) this.detach(index);
  }

  /** The browser's response closed (done or cut): leave every index, then tell the listeners. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.cutPollAnswer();
    for (const index of [...this.detachers.keys()]) this.detach(index);
    for (const listener of this.finishedListeners.splice(0)) listener();
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
