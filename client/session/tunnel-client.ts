/**
 * The running tunnel on the developer's machine: registers, keeps --concurrency polls open, and
 * replays each request it receives against the local app. Each poll slot loops: a poll answer
 * brings a request; the app's response goes back in a POST whose answer is the next request.
 */

import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { CompareRequest, CompareResponse } from '../../shared/protocol/compare';
import { AuthRefusedError, BadPollAnswerError, SessionEndedError, StandinError } from '../../shared/errors';
import { getHeader } from '../../shared/http-headers';
import type { Logger } from '../../shared/logger';
import { MAX_HEAD_BYTES, POLL_GRACE_MS, SHUTDOWN_RECONNECT_DELAY_MS } from '../../shared/protocol/limits';
import type { ProbeMeta, ProbeResultMeta, RawHeaders, RegisterResponse, RequestMeta, AppResponseMeta } from '../../shared/protocol/messages';
import { serverHasFeature } from '../../shared/protocol/version';
import { checkApp } from '../forwarding/app-health-check';
import type { ClientConfig } from '../cli/config';
import { classifyFailure, describeFailure, failureCode, type FailedCall } from './connection-failure';
import { ExpiryWarning } from './expiry-warning';
import { ReconnectBackoff, withJitter } from './reconnect-backoff';
import { AppRequestError, forwardRequest, hasNoBody, type AppResponse } from '../forwarding/forward-request';
import { BrowserLeftError } from '../forwarding/browser-left-error';
import { PREVIEW_CAP_BYTES } from '../inspector/body-preview';
import { RequestCapture, type RequestObserver, type RequestRecord } from '../inspector/request-capture';
import { MAX_CLIENT_UPGRADES, UpgradeForwarder } from '../forwarding/forward-upgrade';
import { BOTH_LOOPBACKS } from '../forwarding/loopback-lookup';
import { MAX_OUTBOUND_CALLS, type OutboundCall } from '../cluster-proxy/cluster-proxy';
import type { Dispatcher } from 'undici';
import { toBrowserHeaders } from '../forwarding/response-headers';
import { ResponseGroup, type CompleteAnswer } from './response-group';
import { ServerConnection, type PollAnswer } from './server-connection';
import { MAX_STREAMING_ANSWERS, StreamingAnswers } from './streaming-answers';
import { EarlyRespondPost } from '../forwarding/early-respond-post';
import { chunkedAnswerBody } from '../forwarding/chunked-answer-body';
import type { Terminal } from '../cli/terminal';

/** The client's version, sent at registration for status pages. */
export const CLIENT_VERSION: string = (require('../../../package.json') as { version: string }).version;

/** How long stop() lets requests that are already with the app finish before it cuts them. */
const STOP_GRACE_MS = 5_000;

/** Why the tunnel stopped running. */
export type TunnelEnd =
  | { kind: 'stopped' }
  | { kind: 'session-ended'; error: SessionEndedError }
  | { kind: 'auth-refused'; error: AuthRefusedError }
  | { kind: 'config-refused'; error: Error }
  | { kind: 'connection-lost'; error: Error };

export class TunnelClient {
  private readonly connection: ServerConnection;
  private readonly app: Pool;
  private readonly upgrades: UpgradeForwarder;
  private registration: RegisterResponse | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  /** The reconnect in progress, which every poll slot that lost the connection waits for. */
  private reconnecting: Promise<void> | undefined;
  /** Counts successful registrations: a failure from an older session is stale, not a new loss. */
  private generation = 0;
  private readonly backoff: ReconnectBackoff;
  /** Requests being served right now (stop() lets them finish briefly). */
  private serving = 0;
  private readonly servingDone = new Set<() => void>();
  private finish: ((end: TunnelEnd) => void) | undefined;
  private readonly wake = new Set<() => void>();
  private renewing: Promise<void> | undefined;
  private readonly expiryWarning = new ExpiryWarning((expiresAt) =>
    this.logger.warn('tunnel expires soon', { tunnel: this.name, expiresAt: expiresAt.toISOString(), minutesLeft: Math.max(0, Math.round((expiresAt.getTime() - Date.now()) / 60_000)), renew: this.config.renew }),
  );
  private readonly requestObservers: RequestObserver[] = [];
  /** Streamed answers going out without holding a poll slot (an event stream may flow for hours). */
  private readonly streamingAnswers = new StreamingAnswers();
  private readonly previewCapBytes: number;
  /**
   * The name's claim key (from the state file, or given by the server at the first registration):
   * sent with every registration, so a restart or reconnect resumes the name instead of being refused.
   */
  claimKey: string | undefined;
  /** Called after a reconnect registered the tunnel again (main.ts remembers the port). */
  onReregistered: ((registered: RegisterResponse) => void) | undefined;

  constructor(
    private readonly config: ClientConfig,
    private readonly name: string,
    private readonly preferredPort: number | undefined,
    private readonly logger: Logger,
    private readonly terminal: Terminal,
  ) {
    // Each open upgraded connection (WebSocket) holds two connections to the server besides the polls.
    // Outbound calls of the cluster proxy (--cluster-proxy) take a connection each while they run.
    // So does each streamed answer that left its poll slot (streaming-answers.ts), to the server
    // and to the app alike: the slot it left serves other requests meanwhile.
    const outboundConnections = config.clusterProxyPort === null ? 0 : MAX_OUTBOUND_CALLS;
    this.connection = new ServerConnection(config.server, config.token, config.concurrency + MAX_STREAMING_ANSWERS + 2 + 2 * MAX_CLIENT_UPGRADES + outboundConnections);
    // Local dev servers on https use self-signed certificates; the target is the developer's own machine.
    // One head-size limit everywhere: a bigger app response head fails that request (502 app_error).
    this.app = new Pool(config.target.origin, { connections: config.concurrency + MAX_STREAMING_ANSWERS, maxHeaderSize: MAX_HEAD_BYTES, connect: { rejectUnauthorized: false, ...BOTH_LOOPBACKS } });
    this.backoff = new ReconnectBackoff(config.maxReconnectDelayMs);
    // Body previews are for the inspector; without it only byte counts are kept.
    this.previewCapBytes = config.inspectPort === null ? 0 : PREVIEW_CAP_BYTES;
    this.upgrades = new UpgradeForwarder({ connection: this.connection, name, target: config.target, preserveHost: config.preserveHost, logger, report: (record) => this.report(record) });
  }

  /** Registers the tunnel; throws AuthRefusedError, or StandinError with the server's reason. */
  async register(): Promise<RegisterResponse> {
    this.registration = await this.connection.register({
      name: this.name,
      port: this.registration?.port ?? this.preferredPort,
      target: this.config.target.origin,
      version: CLIENT_VERSION,
      owner: `${os.userInfo().username}@${os.hostname()}`,
      ttlMs: this.config.ttlMs,
      ...(this.claimKey ? { claimKey: this.claimKey } : {}),
      ...(this.config.private ? { private: true } : {}),
      checkAtStart: true,
    });
    if (this.registration.claimKey) this.claimKey = this.registration.claimKey;
    this.expiryWarning.arm(this.registration.expiresAt);
    this.generation++;
    return this.registration;
  }

  /**
   * The first registration. A server that cannot be reached yet (being restarted or rolled) is
   * retried with the reconnect backoff, one log line per attempt; a refusal is thrown at once,
   * as is any failure with --no-reconnect or once stop() was called.
   */
  async registerFirst(): Promise<RegisterResponse> {
    for (;;) {
      try {
        const registered = await this.register();
        this.backoff.reset();
        return registered;
      } catch (error) {
        const action = classifyFailure(error, 'register');
        // A full port range is an answer, not a lost connection: say so now instead of waiting.
        const isFinal = failureCode(error) === 'no_free_port' || (action !== 'reconnect' && action !== 'reconnect-soon');
        if (!this.config.reconnect || this.stopping || isFinal) throw error;
        const delayMs = action === 'reconnect-soon' ? withJitter(SHUTDOWN_RECONNECT_DELAY_MS, Math.random()) : this.backoff.next();
        this.logger.warn('server not reachable yet', { server: this.config.server.origin, reason: describeFailure(error), retryInSeconds: Math.round(delayMs / 100) / 10 });
        await this.sleep(delayMs);
        if (this.stopping) throw error;
      }
    }
  }

  /** Requests (and streaming responses) the client is serving right now. */
  get requestsInProgress(): number {
    return this.serving;
  }

  /** Whether stop() was called (Ctrl-C). */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** Serves requests until the session ends or stop() is called. */
  run(): Promise<TunnelEnd> {
    return new Promise((resolve) => {
      this.finish = (end) => {
        this.finish = undefined;
        resolve(end);
      };
      for (let slot = 0; slot < this.config.concurrency; slot++) void this.runSlot();
    });
  }

  /**
   * Stops taking requests, releases the tunnel on the server (which fails what is still queued
   * there), lets requests already with the app finish for up to STOP_GRACE_MS, and closes every
   * connection.
   */
  stop(options: { waitForRequests?: boolean } = {}): Promise<void> {
    this.stopped ??= this.shutDown(options.waitForRequests ?? true);
    return this.stopped;
  }

  private async shutDown(waitForRequests: boolean): Promise<void> {
    this.stopping = true;
    this.expiryWarning.cancel();
    for (const wake of this.wake) wake();
    if (this.registration) {
      await this.connection.release(this.name, this.registration.sessionId).catch((error: Error) => {
        this.logger.warn('could not release the tunnel', { tunnel: this.name, error: error.message });
      });
    }
    this.upgrades.closeAll();
    if (waitForRequests) await this.servingFinished(STOP_GRACE_MS);
    await Promise.allSettled([this.connection.close(), this.app.destroy()]);
    this.finish?.({ kind: 'stopped' });
  }

  /** One poll slot: poll, serve what comes, repeat; on failure poll again, reconnect or end. */
  private async runSlot(): Promise<void> {
    let answer: PollAnswer | undefined;
    // The session whose poll brought `answer`: only that session may respond to it.
    let answerSession = '';
    // Whether this slot's last call failed: a second failure in a row is not polled again at once.
    let lastCallFailed = false;
    // A request already taken is served even while stopping: the browser is waiting for it.
    while (!this.stopping || answer?.kind === 'request' || answer?.kind === 'batch') {
      const generation = this.generation;
      const responding = answer?.kind === 'request' || answer?.kind === 'batch' || answer?.kind === 'probe';
      const call: FailedCall = responding ? 'respond' : 'poll';
      const sessionId = responding ? answerSession : this.session().sessionId;
      try {
        if (answer?.kind === 'request') answer = await this.serve(answer.meta, answer.body, sessionId);
        else if (answer?.kind === 'batch') answer = await this.serveBatch(answer.requests, sessionId);
        else if (answer?.kind === 'probe') answer = await this.answerProbe(answer.meta, sessionId);
        else answer = await this.connection.poll(this.name, sessionId);
        answerSession = sessionId;
        lastCallFailed = false;
      } catch (error) {
        const failedBefore = lastCallFailed;
        lastCallFailed = true;
        answer = undefined;
        if (this.stopping) return;
        // The answer of a session a reconnect or renewal has already replaced (or is replacing
        // right now): poll on the new one.
        if (await this.isAboutAnOldSession(error, generation, sessionId)) continue;
        if (error instanceof SessionEndedError && error.reason === 'expired' && this.config.renew) {
          await this.renew();
          continue;
        }
        if (!(await this.handleFailure(error, call, failedBefore))) return;
      }
    }
  }

  /**
   * Whether a failure is about a session this client has left behind, so it must not end the
   * tunnel. After a network blip, the server answers the old session's polls `409
   * session_replaced` as soon as the reconnect registers again, and those answers can arrive
   * before the registration's own answer: while a re-registration is on its way, a session-ended
   * answer is about the old session. Waits for that re-registration to finish first.
   */
  private async isAboutAnOldSession(error: unknown, generation: number, sessionId: string): Promise<boolean> {
    if (error instanceof AuthRefusedError) return false;
    const reregistering = this.reconnecting ?? this.renewing;
    if (error instanceof SessionEndedError && reregistering) await reregistering.catch(() => undefined);
    return generation !== this.generation || sessionId !== this.registration?.sessionId;
  }

  /** Acts on a failed poll or respond; false when the tunnel is over. */
  private async handleFailure(error: unknown, call: FailedCall, failedBefore: boolean): Promise<boolean> {
    const classified = classifyFailure(error, call);
    const action = classified === 'poll-again' && failedBefore ? 'reconnect' : classified;
    switch (action) {
      case 'exit-auth':
      case 'exit-ended':
      case 'exit-config':
        this.end(error as Error, action);
        return false;
      case 'poll-again':
        if (error instanceof BadPollAnswerError) this.logger.warn('poll answer lost, polling again', { tunnel: this.name, error: error.message });
        else this.logger.debug('respond failed, polling again', { tunnel: this.name, error: (error as Error).message });
        return true;
      case 'reconnect':
      case 'reconnect-soon':
        this.reconnecting ??= this.reconnect(error as Error).finally(() => (this.reconnecting = undefined));
        await this.reconnecting;
        return !this.stopping && this.finish !== undefined;
      default: {
        const unhandled: never = action;
        throw new Error(`unhandled failure action ${String(unhandled)}`);
      }
    }
  }

  /**
   * The connection is lost: register again (same name, same port) with backoff until it works,
   * the user stops, or the server refuses us for good. One log line per transition.
   */
  private async reconnect(cause: Error): Promise<void> {
    const lostAt = Date.now();
    this.logger.warn('connection lost', { tunnel: this.name, reason: describeFailure(cause), code: failureCode(cause) });
    if (!this.config.reconnect) {
      this.finish?.({ kind: 'connection-lost', error: cause });
      return;
    }
    let delayMs = failureCode(cause) === 'server_shutdown' ? withJitter(SHUTDOWN_RECONNECT_DELAY_MS, Math.random()) : this.backoff.next();
    let lastError: unknown;
    while (!this.stopping && this.finish) {
      this.logger.info('reconnecting', {
        tunnel: this.name,
        inSeconds: Math.round(delayMs / 100) / 10,
        attempt: this.backoff.attempts,
        ...(lastError ? { lastError: describeFailure(lastError) } : {}),
      });
      await this.sleep(delayMs);
      if (this.stopping) return;
      const previousPort = this.registration?.port;
      try {
        const registered = await this.register();
        this.backoff.reset();
        this.logger.info('reconnected', { tunnel: this.name, port: registered.port, downSeconds: Math.round((Date.now() - lostAt) / 100) / 10 });
        if (registered.port !== previousPort) this.logger.warn('tunnel port changed', { tunnel: this.name, port: registered.port, previousPort });
        this.onReregistered?.(registered);
        return;
      } catch (error) {
        const action = classifyFailure(error, 'register');
        if (action === 'exit-auth' || action === 'exit-config' || action === 'exit-ended') {
          this.end(error as Error, action);
          return;
        }
        lastError = error;
        delayMs = action === 'reconnect-soon' ? withJitter(SHUTDOWN_RECONNECT_DELAY_MS, Math.random()) : this.backoff.next();
      }
    }
  }

  /** Answers a health probe after checking the local app; not a request, so not in the request log. */
  private async answerProbe(probe: ProbeMeta, sessionId: string): Promise<PollAnswer> {
    const startedAt = performance.now();
    const result = await checkApp(this.config.target, this.app, this.config.healthPath);
    const meta: ProbeResultMeta = { kind: 'probe-result', ok: result.ok, appMs: performance.now() - startedAt, ...(result.error ? { error: result.error } : {}) };
    this.logger.debug('answered health probe', { tunnel: this.name, ok: result.ok, error: result.error });
    return this.connection.respond(this.name, sessionId, probe.id, meta, null);
  }

  /** --renew: the tunnel expired, so register it again (once, however many slots noticed). */
  private async renew(): Promise<void> {
    this.renewing ??= this.register()
      .then((registered) => {
        this.backoff.reset();
        this.logger.info('tunnel renewed', { tunnel: registered.name, port: registered.port, expiresAt: registered.expiresAt });
      })
      .catch(async (error: Error) => {
        const delayMs = this.backoff.next();
        this.logger.warn('could not renew the tunnel', { tunnel: this.name, error: error.message, retryInSeconds: Math.round(delayMs / 100) / 10 });
        await this.sleep(delayMs);
      })
      .finally(() => (this.renewing = undefined));
    await this.renewing;
  }

  /** Replays one request against the app and answers it; returns the next poll answer. */
  private serve(meta: RequestMeta, body: Readable, sessionId: string): Promise<PollAnswer> {
    return this.whileServing(this.serveOnce(meta, body, sessionId));
  }

  private async serveOnce(meta: RequestMeta, body: Readable, sessionId: string): Promise<PollAnswer> {
    if (meta.upgrade) return this.upgrades.serve(meta, body, sessionId, this.session().requestTimeoutMs);
    const early = this.earlyPostFor(meta.id, sessionId);
    const answer = await this.forward(meta, body, early);
    if (early?.started) return this.finishEarly(early, answer);
    return this.sendAnswer(answer, sessionId);
  }

  /**
   * Where the app's interim (1xx) responses to request `id` go: a respond POST started at the
   * first of them (early-respond-post.ts), which then carries the final answer too. It goes
   * not-a-poll on a streaming place, as a streamed answer does, since its final answer may be an
   * event stream; interims that come while every place is taken are dropped, as is every interim
   * with a server from before interim responses (undefined then).
   */
  private earlyPostFor(id: string, sessionId: string): EarlyRespondPost | undefined {
    if (!serverHasFeature(this.registration, 'interim-responses')) return undefined;
    return new EarlyRespondPost((framedBody) => {
      if (!this.streamingAnswers.tryTake()) return undefined;
      return this.connection.respondFramed(this.name, sessionId, id, framedBody, { notAPoll: true }).finally(() => this.streamingAnswers.release());
    });
  }

  /** Sends the final answer on the POST its interims started; that POST runs on by itself, and the slot polls again. */
  private finishEarly(early: EarlyRespondPost, answer: AppAnswer): PollAnswer {
    const body = answer.kind === 'complete' ? answer.body : answer.hasBody ? answerBody(answer) : null;
    const sent = early.finish(answer.meta, body).catch((error: Error) => {
      if (answer.kind === 'streaming') answer.response.body.destroy(new BrowserLeftError({ cause: error }));
      throw error;
    });
    this.whileServing(sent).catch((error: Error) => this.logger.debug('a response after interim responses could not be sent', { requestId: answer.id, tunnel: this.name, error: error.message }));
    return { kind: 'idle' };
  }

  /**
   * Replays a batch of bodiless requests at once. Complete answers that arrive together share one
   * POST (ResponseGroup); a streamed response goes on its own. The first POST carries on as this
   * slot's poll; the others are marked not-a-poll, so the slot count stays at --concurrency.
   */
  private serveBatch(requests: RequestMeta[], sessionId: string): Promise<PollAnswer> {
    return new Promise((continueSlot, failSlot) => {
      let slotContinued = false;
      const posts: Promise<unknown>[] = [];
      const post = (send: (notAPoll: boolean) => Promise<PollAnswer>) => {
        const first = !slotContinued;
        slotContinued = true;
        const answer = send(!first);
        if (first) answer.then(continueSlot, failSlot);
        posts.push(
          answer.catch((error: Error) => {
            if (!first) this.logger.debug('a response of a batch could not be sent', { tunnel: this.name, error: error.message });
          }),
        );
      };
      const group = new ResponseGroup(requests.length, (answers) =>
        post((notAPoll) => (answers.length === 1 ? this.sendAnswer(answers[0], sessionId, notAPoll) : this.sendGroup(answers, sessionId, notAPoll))),
      );
      const served = requests.map(async (meta) => {
        const early = this.earlyPostFor(meta.id, sessionId);
        const answer = await this.forward(meta, null, early);
        if (early?.started) {
          group.answeredAlone();
          this.finishEarly(early, answer);
        } else if (answer.kind === 'complete' && ResponseGroup.accepts(answer)) {
          group.add(answer);
        } else {
          group.answeredAlone();
          post((notAPoll) => this.sendAnswer(answer, sessionId, notAPoll));
        }
      });
      const allServed = Promise.all(served).then(() => {
        // Every answer went on a POST of its own started by interim responses: the slot polls again.
        if (!slotContinued) {
          slotContinued = true;
          continueSlot({ kind: 'idle' });
        }
      });
      void this.whileServing(allServed.then(() => Promise.all(posts)));
    });
  }

  /** Counts `work` as a request being served until it settles (a graceful stop waits for it). */
  private async whileServing<T>(work: Promise<T>): Promise<T> {
    this.serving++;
    try {
      return await work;
    } finally {
      this.serving--;
      if (this.serving === 0) for (const done of this.servingDone) done();
    }
  }

  /** Resolves when no request is being served, or after `timeoutMs`. */
  private servingFinished(timeoutMs: number): Promise<void> {
    if (this.serving === 0) return Promise.resolve();
    return delayUnlessWoken(timeoutMs, this.servingDone);
  }

  /**
   * Sends one request to the app and records it (terminal, log file, inspector); resolves with its
   * answer, complete when the app failed or its whole body arrived with the head (the usual case
   * for a small response), streaming otherwise. Never rejects: a failing app is an answer too.
   */
  private async forward(meta: RequestMeta, body: Readable | null, early?: EarlyRespondPost): Promise<AppAnswer> {
    const startedAt = performance.now();
    const capture = new RequestCapture(meta, this.name, { previewCapBytes: this.previewCapBytes, hostSentToApp: this.config.preserveHost ? undefined : this.config.target.host });
    // The poll answer's body breaks when the server cuts it (the browser left mid-upload, the
    // request timed out, the connection dropped): the app request is aborted through the body it
    // reads, and this listener keeps the break from being an uncaught 'error'.
    body?.on('error', (error) => this.logger.debug('request body from the server broke', { requestId: meta.id, tunnel: this.name, error: error.message }));
    if (body && !meta.hasBody) body.resume();
    let response: AppResponse;
    try {
      response = await forwardRequest(this.app, meta, body && meta.hasBody ? capture.tapRequestBody(body) : null, {
        target: this.config.target,
        preserveHost: this.config.preserveHost,
        headersTimeoutMs: this.session().requestTimeoutMs,
        onResponseChunk: (chunk) => capture.responseChunk(chunk),
        ...(early ? { onInterim: (interim) => early.interim(interim) } : {}),
      });
    } catch (error) {
      const failure = error instanceof AppRequestError ? error : new AppRequestError('app_error', (error as Error).message, { cause: error });
      body?.destroy();
      const appMs = performance.now() - startedAt;
      this.report(capture.failed(failure.failure, failure.message));
      this.logger.debug('app request failed', { requestId: meta.id, tunnel: this.name, error: failure.message });
      return { kind: 'complete', id: meta.id, meta: { kind: 'failure', code: failure.failure, message: failure.message, appMs }, body: null };
    }
    const answered: AppResponseMeta = {
      kind: 'response',
      status: response.status,
      headers: toBrowserHeaders(response.headers, meta.headers, this.config.target),
      appMs: performance.now() - startedAt,
      ...(response.statusMessage ? { statusMessage: response.statusMessage } : {}),
    };
    const hasBody = !hasNoBody(meta.method, response.status);
    capture.responded(response.status, answered.headers);
    // A small response has usually arrived whole with its head: it goes out with the respond
    // POST's head in one write, with no stream in between. Only such a response can carry its
    // trailers (they come after the body, and the POST's meta goes before it).
    const whole = response.takeWholeBody();
    if (whole) {
      this.report(capture.finish());
      if (response.trailers.length > 0) answered.trailers = response.trailers;
      return { kind: 'complete', id: meta.id, meta: answered, body: hasBody ? whole : null };
    }
    capture.watchResponseBody(response.body, (record) => this.report(record));
    if (!hasBody) response.body.resume();
    // Trailers the app announced can follow a streamed body only in chunks (shared/protocol/body-chunks.ts).
    else if (serverHasFeature(this.registration, 'streamed-trailers') && announcesTrailers(response.headers)) answered.trailersFollow = true;
    return { kind: 'streaming', id: meta.id, meta: answered, response, hasBody };
  }

  /**
   * Sends one answer in a respond POST; resolves with the next poll answer (idle when `notAPoll`).
   * A streamed answer leaves its slot when a place is free (streaming-answers.ts): its POST goes
   * out not-a-poll and runs on by itself, and this resolves idle at once, so the slot polls again.
   */
  private sendAnswer(answer: AppAnswer, sessionId: string, notAPoll = false): Promise<PollAnswer> {
    if (answer.kind === 'complete') return this.connection.respond(this.name, sessionId, answer.id, answer.meta, answer.body, { notAPoll });
    if (notAPoll || !this.streamingAnswers.tryTake()) return this.sendStreamed(answer, sessionId, notAPoll);
    const streamed = this.sendStreamed(answer, sessionId, true).finally(() => this.streamingAnswers.release());
    // Still a request being served: a graceful stop lets it finish like any other.
    this.whileServing(streamed).catch((error: Error) => this.logger.debug('a streamed response could not be sent', { requestId: answer.id, tunnel: this.name, error: error.message }));
    return Promise.resolve({ kind: 'idle' });
  }

  /** Streams the app's body in a respond POST; the app's response is dropped when the POST fails. */
  private async sendStreamed(answer: StreamingAnswer, sessionId: string, notAPoll: boolean): Promise<PollAnswer> {
    const { response, hasBody } = answer;
    try {
      return await this.connection.respond(this.name, sessionId, answer.id, answer.meta, hasBody ? answerBody(answer) : null, {
        contentLength: hasBody && !answer.meta.trailersFollow ? contentLength(response) : undefined,
        notAPoll,
      });
    } catch (error) {
      // The POST was cut from the server's side: the app's response is no longer wanted.
      response.body.destroy(new BrowserLeftError({ cause: error }));
      throw error;
    }
  }

  /** Sends several complete answers in one respond-to-several POST. */
  private sendGroup(answers: CompleteAnswer[], sessionId: string, notAPoll: boolean): Promise<PollAnswer> {
    const responses = answers.map((answer) => ({ ...answer.meta, id: answer.id, bodyBytes: answer.body?.length ?? 0 }));
    const bodies = Buffer.concat(answers.flatMap((answer) => (answer.body ? [answer.body] : [])));
    return this.connection.respondToSeveral(this.name, sessionId, responses, bodies, { notAPoll });
  }

  /**
   * Sends one outbound call of the cluster proxy over this tunnel's connection and session;
   * throws StandinError `outbound_offline` while the tunnel has no session.
   */
  callOutbound: OutboundCall = (body, options): Promise<Dispatcher.ResponseData> => {
    if (!this.registration || this.stopping) return Promise.reject(new StandinError('outbound_offline', 'the standin client is not connected to its server right now'));
    const headersTimeoutMs = this.registration.requestTimeoutMs + POLL_GRACE_MS;
    return this.connection.callOutbound(this.name, this.registration.sessionId, body, { ...options, headersTimeoutMs });
  };

  /** The inspector's "Compare with the cluster": sends a captured request to the server's --fallback. */
  callCompare = (request: CompareRequest): Promise<CompareResponse> => {
    if (!this.registration || this.stopping) return Promise.reject(new StandinError('not_connected', 'the standin client is not connected to its server right now'));
    return this.connection.compare(this.name, this.registration.sessionId, request, this.registration.requestTimeoutMs + POLL_GRACE_MS);
  };

  /** Registers a function to call with the record of every finished request (log file, inspector). */
  onRequestDone(observer: RequestObserver): void {
    this.requestObservers.push(observer);
  }

  private report(record: RequestRecord): void {
    this.terminal.request(record);
    for (const observer of this.requestObservers) observer(record);
  }

  private end(error: Error, action: 'exit-auth' | 'exit-ended' | 'exit-config'): void {
    if (action === 'exit-auth') this.finish?.({ kind: 'auth-refused', error: error as AuthRefusedError });
    else if (action === 'exit-ended') this.finish?.({ kind: 'session-ended', error: error as SessionEndedError });
    else this.finish?.({ kind: 'config-refused', error });
  }

  private session(): RegisterResponse {
    if (!this.registration) throw new StandinError('not_registered', 'register() must succeed before polling');
    return this.registration;
  }

  private sleep(ms: number): Promise<void> {
    return delayUnlessWoken(ms, this.wake);
  }
}

/** What the app answered to one request, ready to go back to the server. */
type AppAnswer = CompleteAnswer | StreamingAnswer;

/** An answer whose body is still coming from the app. */
interface StreamingAnswer {
  kind: 'streaming';
  id: string;
  meta: AppResponseMeta;
  response: AppResponse;
  hasBody: boolean;
}

/** Resolves after `ms`, or as soon as one of `wakers` is called (each call wakes every waiter). */
function delayUnlessWoken(ms: number, wakers: Set<() => void>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      wakers.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    wakers.add(done);
  });
}

/** The body of a streamed answer as the respond POST carries it: in chunks when trailers follow it. */
function answerBody(answer: StreamingAnswer): Readable {
  const { response } = answer;
  return answer.meta.trailersFollow ? chunkedAnswerBody(response.body, () => response.trailers) : response.body;
}

/**
 * Whether the app's head announces trailers (`Trailer`, RFC 9110 §6.6.2) on a body of unknown
 * length, the only kind that can carry them; trailers an app sends unannounced on a streamed body
 * are dropped (on a body that arrived whole they always pass).
 */
function announcesTrailers(headers: RawHeaders): boolean {
  return getHeader(headers, 'trailer') !== undefined && getHeader(headers, 'content-length') === undefined;
}

function contentLength(response: AppResponse): number | undefined {
  const header = getHeader(response.headers, 'content-length');
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  return Number(header);
}
