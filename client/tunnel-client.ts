/**
 * The running tunnel on the developer's machine: registers, keeps --concurrency polls open, and
 * replays each request it receives against the local app. Each poll slot loops: a poll answer
 * brings a request; the app's response goes back in a POST whose answer is the next request.
 */

import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import { AuthRefusedError, SessionEndedError, TunnelError } from '../shared/errors';
import { getHeader } from '../shared/http-headers';
import type { Logger } from '../shared/logger';
import type { ProbeMeta, ProbeResultMeta, RegisterResponse, RequestMeta, ResponseMeta } from '../shared/protocol';
import { checkApp } from './app-health-check';
import type { ClientConfig } from './config';
import { ExpiryWarning } from './expiry-warning';
import { AppRequestError, forwardRequest, type AppResponse } from './forward-request';
import { MAX_CLIENT_UPGRADES, UpgradeForwarder } from './forward-upgrade';
import { toBrowserHeaders } from './response-headers';
import { ServerConnection, type PollAnswer } from './server-connection';
import type { Terminal } from './terminal';

/** The client's version, sent at registration for status pages. */
export const CLIENT_VERSION: string = (require('../../package.json') as { version: string }).version;

/** How long a poll slot waits after a failed poll before it tries again. */
const SLOT_RETRY_DELAY_MS = 1_000;

/** Why the tunnel stopped running. */
export type TunnelEnd = { kind: 'stopped' } | { kind: 'session-ended'; error: SessionEndedError } | { kind: 'auth-refused'; error: AuthRefusedError };

export class TunnelClient {
  private readonly connection: ServerConnection;
  private readonly app: Pool;
  private readonly upgrades: UpgradeForwarder;
  private registration: RegisterResponse | undefined;
  private stopping = false;
  private reRegistering: Promise<void> | undefined;
  private finish: ((end: TunnelEnd) => void) | undefined;
  private readonly wake = new Set<() => void>();
  private renewing: Promise<void> | undefined;
  private readonly expiryWarning = new ExpiryWarning((expiresAt) =>
    this.logger.warn('tunnel expires soon', { tunnel: this.name, expiresAt: expiresAt.toISOString(), minutesLeft: Math.max(0, Math.round((expiresAt.getTime() - Date.now()) / 60_000)), renew: this.config.renew }),
  );

  constructor(
    private readonly config: ClientConfig,
    private readonly name: string,
    private readonly preferredPort: number | undefined,
    private readonly logger: Logger,
    private readonly terminal: Terminal,
  ) {
    // Each open upgraded connection (WebSocket) holds two connections to the server besides the polls.
    this.connection = new ServerConnection(config.server, config.token, config.concurrency + 2 + 2 * MAX_CLIENT_UPGRADES);
    // Local dev servers on https use self-signed certificates; the target is the developer's own machine.
    this.app = new Pool(config.target.origin, { connections: config.concurrency, connect: { rejectUnauthorized: false } });
    this.upgrades = new UpgradeForwarder({ connection: this.connection, name, target: config.target, preserveHost: config.preserveHost, logger, terminal });
  }

  /** Registers the tunnel; throws AuthRefusedError, or TunnelError with the server's reason. */
  async register(): Promise<RegisterResponse> {
    this.registration = await this.connection.register({
      name: this.name,
      port: this.registration?.port ?? this.preferredPort,
      target: this.config.target.origin,
      version: CLIENT_VERSION,
      owner: `${os.userInfo().username}@${os.hostname()}`,
      ttlMs: this.config.ttlMs,
    });
    this.expiryWarning.arm(this.registration.expiresAt);
    return this.registration;
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

  /** Releases the tunnel on the server and closes every connection. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.expiryWarning.cancel();
    for (const wake of this.wake) wake();
    if (this.registration) {
      await this.connection.release(this.name, this.registration.sessionId).catch((error: Error) => {
        this.logger.warn('could not release the tunnel', { tunnel: this.name, error: error.message });
      });
    }
    this.upgrades.closeAll();
    await Promise.allSettled([this.connection.close(), this.app.destroy()]);
    this.finish?.({ kind: 'stopped' });
  }

  private async runSlot(): Promise<void> {
    let answer: PollAnswer | undefined;
    while (!this.stopping) {
      const sessionUsed = this.registration?.sessionId;
      try {
        if (answer?.kind === 'request') answer = await this.serve(answer.meta, answer.body);
        else if (answer?.kind === 'probe') answer = await this.answerProbe(answer.meta);
        else answer = await this.poll();
      } catch (error) {
        answer = undefined;
        if (this.stopping) return;
        // Another slot already renewed the tunnel: this answer was about the old session.
        if (error instanceof SessionEndedError && sessionUsed !== this.registration?.sessionId) continue;
        if (error instanceof SessionEndedError && error.reason === 'expired' && this.config.renew) {
          await this.renew();
          continue;
        }
        if (error instanceof SessionEndedError || error instanceof AuthRefusedError) {
          this.end(error);
          return;
        }
        await this.recover(error as Error);
      }
    }
  }

  private poll(): Promise<PollAnswer> {
    const { sessionId } = this.session();
    return this.connection.poll(this.name, sessionId);
  }

  /** Answers a health probe after checking the local app; not a request, so not in the request log. */
  private async answerProbe(probe: ProbeMeta): Promise<PollAnswer> {
    const { sessionId } = this.session();
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
        this.logger.info('tunnel renewed', { tunnel: registered.name, port: registered.port, expiresAt: registered.expiresAt });
      })
      .catch(async (error: Error) => {
        this.logger.warn('could not renew the tunnel', { tunnel: this.name, error: error.message });
        await this.sleep(SLOT_RETRY_DELAY_MS);
      })
      .finally(() => (this.renewing = undefined));
    await this.renewing;
  }

  /** Replays one request against the app and answers it; returns the next poll answer. */
  private async serve(meta: RequestMeta, body: Readable): Promise<PollAnswer> {
    const { sessionId, requestTimeoutMs } = this.session();
    if (meta.upgrade) return this.upgrades.serve(meta, body, sessionId, requestTimeoutMs, () => this.poll());
    const startedAt = performance.now();
    if (!meta.hasBody) body.resume();
    let response: AppResponse;
    try {
      response = await forwardRequest(this.app, meta, meta.hasBody ? body : null, {
        target: this.config.target,
        preserveHost: this.config.preserveHost,
        headersTimeoutMs: requestTimeoutMs,
      });
    } catch (error) {
      const failure = error instanceof AppRequestError ? error : new AppRequestError('app_error', (error as Error).message, { cause: error });
      body.destroy();
      const appMs = performance.now() - startedAt;
      this.terminal.request({ requestId: meta.id, method: meta.method, path: meta.url, status: 502, durationMs: appMs, error: failure.failure });
      this.logger.debug('app request failed', { requestId: meta.id, tunnel: this.name, error: failure.message });
      const failed: ResponseMeta = { kind: 'failure', code: failure.failure, message: failure.message, appMs };
      return this.connection.respond(this.name, sessionId, meta.id, failed, null);
    }
    const answered: ResponseMeta = {
      kind: 'response',
      status: response.status,
      headers: toBrowserHeaders(response.headers, meta.headers, this.config.target),
      appMs: performance.now() - startedAt,
    };
    const hasBody = meta.method !== 'HEAD' && response.status !== 204 && response.status !== 304;
    this.reportWhenDone(meta, response, startedAt);
    if (!hasBody) response.body.resume();
    try {
      return await this.connection.respond(this.name, sessionId, meta.id, answered, hasBody ? response.body : null, hasBody ? contentLength(response) : undefined);
    } catch (error) {
      response.body.destroy();
      throw error;
    }
  }

  private reportWhenDone(meta: RequestMeta, response: AppResponse, startedAt: number): void {
    response.body.once('close', () => {
      const error = response.body.errored ? 'app_error' : undefined;
      this.terminal.request({ requestId: meta.id, method: meta.method, path: meta.url, status: response.status, durationMs: performance.now() - startedAt, error });
    });
  }

  /** After a failed poll or respond: re-register when the server forgot us, else wait and retry. */
  private async recover(error: Error): Promise<void> {
    const code = error instanceof TunnelError ? error.code : (error as NodeJS.ErrnoException).code;
    this.logger.debug('poll failed', { tunnel: this.name, error: error.message, code });
    if (code === 'not_found' || code === 'unknown_session') {
      this.reRegistering ??= this.register()
        .then((registered) => {
          this.logger.info('registered again', { tunnel: registered.name, port: registered.port });
        })
        .catch((registerError: Error) => {
          this.logger.warn('could not register again', { tunnel: this.name, error: registerError.message });
        })
        .finally(() => (this.reRegistering = undefined));
      await this.reRegistering;
    }
    await this.sleep(SLOT_RETRY_DELAY_MS);
  }

  private end(error: SessionEndedError | AuthRefusedError): void {
    if (error instanceof AuthRefusedError) this.finish?.({ kind: 'auth-refused', error });
    else this.finish?.({ kind: 'session-ended', error });
  }

  private session(): RegisterResponse {
    if (!this.registration) throw new TunnelError('not_registered', 'register() must succeed before polling');
    return this.registration;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.add(done);
    });
  }
}

function contentLength(response: AppResponse): number | undefined {
  const header = getHeader(response.headers, 'content-length');
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  return Number(header);
}
