/**
 * The tunnel's registration with the server, kept up for the whole run: the first one (retrying
 * a server that cannot be reached yet), again after a lost connection (reconnect, with backoff),
 * again when the tunnel expired (--renew), and its release at stop. Knows which session is the
 * current one, so a failure about a session left behind does not end the tunnel.
 */

import os from 'node:os';
import { AuthRefusedError, SessionEndedError, StandinError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import { SHUTDOWN_RECONNECT_DELAY_MS } from '#shared/protocol/limits';
import type { RegisterResponse } from '#shared/protocol/messages';
import type { ClientConfig } from '../cli/config';
import { classifyFailure, describeFailure, failureCode } from './connection-failure';
import { ExpiryWarning } from './expiry-warning';
import { ReconnectBackoff, withJitter } from './reconnect-backoff';
import type { ServerConnection } from './server-connection';
import type { TunnelRun } from './tunnel-run';

/** The client's version, sent at registration for status pages. */
export const CLIENT_VERSION: string = (require('../../../package.json') as { version: string }).version;

export interface RegistrationOptions {
  connection: ServerConnection;
  config: ClientConfig;
  name: string;
  /** The port asked for at the first registration (later ones ask for the port they had). */
  preferredPort: number | undefined;
  /**
   * The name's claim key from the state file, if any: sent with every registration, so a
   * restart or reconnect resumes the name instead of being refused.
   */
  claimKey: string | undefined;
  logger: Logger;
  run: TunnelRun;
}

export class Registration {
  private registered: RegisterResponse | undefined;
  /** Counts successful registrations: a failure from an older session is stale, not a new loss. */
  private registrations = 0;
  private claimKey: string | undefined;
  private readonly backoff: ReconnectBackoff;
  private readonly expiryWarning: ExpiryWarning;
  /** The reconnect in progress, which every poll slot that lost the connection waits for. */
  private reconnecting: Promise<void> | undefined;
  /** The renewal in progress (--renew), which every poll slot that saw the expiry waits for. */
  private renewing: Promise<void> | undefined;
  /** Called after a reconnect registered the tunnel again. */
  onReregistered: ((registered: RegisterResponse) => void) | undefined;

  constructor(private readonly options: RegistrationOptions) {
    const { config, name, logger } = options;
    this.claimKey = options.claimKey;
    this.backoff = new ReconnectBackoff(config.maxReconnectDelayMs);
    this.expiryWarning = new ExpiryWarning((expiresAt) =>
      logger.warn('tunnel expires soon', {
        tunnel: name,
        expiresAt: expiresAt.toISOString(),
        minutesLeft: Math.max(0, Math.round((expiresAt.getTime() - Date.now()) / 60_000)),
        renew: config.renew,
      }),
    );
  }

  /** The latest registration answer, undefined before the first. */
  get current(): RegisterResponse | undefined {
    return this.registered;
  }

  /** The latest registration answer; throws before the first. */
  session(): RegisterResponse {
    if (!this.registered) throw new StandinError('not_registered', 'register() must succeed before polling');
    return this.registered;
  }

  /** Changes with every successful registration: a call made under an older one is about a session left behind. */
  get generation(): number {
    return this.registrations;
  }

  /**
   * The first registration. A server that cannot be reached yet (being restarted or rolled) is
   * retried with the reconnect backoff, one log line per attempt; a refusal is thrown at once,
   * as is any failure with --no-reconnect or once stop() was called.
   */
  async registerFirst(): Promise<RegisterResponse> {
    const { config, logger, run } = this.options;
    for (;;) {
      try {
        const registered = await this.register();
        this.backoff.reset();
        return registered;
      } catch (error) {
        const action = classifyFailure(error, 'register');
        // A full port range is an answer, not a lost connection: say so now instead of waiting.
        const isFinal = failureCode(error) === 'no_free_port' || (action !== 'reconnect' && action !== 'reconnect-soon');
        if (!config.reconnect || run.isStopping || isFinal) throw error;
        const delayMs = action === 'reconnect-soon' ? withJitter(SHUTDOWN_RECONNECT_DELAY_MS, Math.random()) : this.backoff.next();
        logger.warn('server not reachable yet', {
          server: config.server.origin,
          reason: describeFailure(error),
          retryInSeconds: Math.round(delayMs / 100) / 10,
        });
        await run.sleep(delayMs);
        if (run.isStopping) throw error;
      }
    }
  }

  /** The connection is lost: registers again, once however many poll slots noticed; resolves when that is over. */
  reconnectAfter(cause: Error): Promise<void> {
    this.reconnecting ??= this.reconnect(cause).finally(() => (this.reconnecting = undefined));
    return this.reconnecting;
  }

  /** --renew: the tunnel expired, so register it again (once, however many slots noticed). */
  async renew(): Promise<void> {
    const { name, logger, run } = this.options;
    this.renewing ??= this.register()
      .then((registered) => {
        this.backoff.reset();
        logger.info('tunnel renewed', { tunnel: registered.name, port: registered.port, expiresAt: registered.expiresAt });
      })
      .catch(async (error: Error) => {
        const delayMs = this.backoff.next();
        logger.warn('could not renew the tunnel', { tunnel: name, error: error.message, retryInSeconds: Math.round(delayMs / 100) / 10 });
        await run.sleep(delayMs);
      })
      .finally(() => (this.renewing = undefined));
    await this.renewing;
  }

  /**
   * Whether a failure is about a session this client has left behind, so it must not end the
   * tunnel. After a network blip, the server answers the old session's polls `409
   * session_replaced` as soon as the reconnect registers again, and those answers can arrive
   * before the registration's own answer: while a re-registration is on its way, a session-ended
   * answer is about the old session. Waits for that re-registration to finish first.
   */
  async isAboutAnOldSession(error: unknown, generation: number, sessionId: string): Promise<boolean> {
    if (error instanceof AuthRefusedError) return false;
    const reregistering = this.reconnecting ?? this.renewing;
    if (error instanceof SessionEndedError && reregistering) await reregistering.catch(() => undefined);
    return generation !== this.registrations || sessionId !== this.registered?.sessionId;
  }

  /** Stops the expiry warning and releases the tunnel on the server (which fails what is still queued there). */
  async release(): Promise<void> {
    const { connection, name, logger } = this.options;
    this.expiryWarning.cancel();
    if (!this.registered) return;
    await connection.release(name, this.registered.sessionId).catch((error: Error) => {
      logger.warn('could not release the tunnel', { tunnel: name, error: error.message });
    });
  }

  /** Registers the tunnel; throws AuthRefusedError, or StandinError with the server's reason. */
  private async register(): Promise<RegisterResponse> {
    const { connection, config, name } = this.options;
    this.registered = await connection.register({
      name,
      port: this.registered?.port ?? this.options.preferredPort,
      target: config.target.origin,
      version: CLIENT_VERSION,
      owner: `${os.userInfo().username}@${os.hostname()}`,
      ttlMs: config.ttlMs,
      ...(this.claimKey ? { claimKey: this.claimKey } : {}),
      ...(config.private ? { private: true } : {}),
      checkAtStart: true,
    });
    if (this.registered.claimKey) this.claimKey = this.registered.claimKey;
    this.expiryWarning.arm(this.registered.expiresAt);
    this.registrations++;
    return this.registered;
  }

  /**
   * Registers again (same name, same port) with backoff until it works, the user stops, or the
   * server refuses us for good. One log line per transition.
   */
  private async reconnect(cause: Error): Promise<void> {
    const { config, name, logger, run } = this.options;
    const lostAt = Date.now();
    logger.warn('connection lost', { tunnel: name, reason: describeFailure(cause), code: failureCode(cause) });
    if (!config.reconnect) {
      run.end({ kind: 'connection-lost', error: cause });
      return;
    }
    let delayMs = failureCode(cause) === 'server_shutdown' ? withJitter(SHUTDOWN_RECONNECT_DELAY_MS, Math.random()) : this.backoff.next();
    let lastError: unknown;
    while (!run.isStopping && run.isRunning) {
      logger.info('reconnecting', {
        tunnel: name,
        inSeconds: Math.round(delayMs / 100) / 10,
        attempt: this.backoff.attempts,
        ...(lastError ? { lastError: describeFailure(lastError) } : {}),
      });
      await run.sleep(delayMs);
      if (run.isStopping) return;
      const previousPort = this.registered?.port;
      try {
        const registered = await this.register();
        this.backoff.reset();
        logger.info('reconnected', { tunnel: name, port: registered.port, downSeconds: Math.round((Date.now() - lostAt) / 100) / 10 });
        if (registered.port !== previousPort) logger.warn('tunnel port changed', { tunnel: name, port: registered.port, previousPort });
        this.onReregistered?.(registered);
        return;
      } catch (error) {
        const action = classifyFailure(error, 'register');
        if (action === 'exit-auth' || action === 'exit-config' || action === 'exit-ended') {
          run.endFor(error as Error, action);
          return;
        }
        lastError = error;
        delayMs = action === 'reconnect-soon' ? withJitter(SHUTDOWN_RECONNECT_DELAY_MS, Math.random()) : this.backoff.next();
      }
    }
  }
}
