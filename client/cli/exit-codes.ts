/**
 * The exit code of `standin connect` and `standin up` for every way a tunnel ends, whether it
 * never went live or ended after serving, and the line that tells the developer why. The codes
 * are a contract (docs/design.md "Client exit codes"): 0 clean stop, 1 anything else, 2 usage or
 * config error (also a server that is not a standin server, speaks another protocol version or
 * refused the registration), 3 token refused, 4 tunnel expired or stopped by an admin.
 */

import { AuthRefusedError, ConfigError, TunnelClosedError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import type { SessionEndReason } from '#shared/protocol/session-end';
import { classifyFailure, describeFailure, failureCode, isTlsFailure } from '../session/connection-failure';
import type { TunnelEnd } from '../session/tunnel-run';

/** Process exit codes of the client commands. */
export const EXIT = { ok: 0, other: 1, config: 2, auth: 3, ended: 4 } as const;

/** One of the client's exit codes. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Why a tunnel never went live. */
export type StartFailure =
  /** Ctrl-C (or close()) while it registered. */
  | { kind: 'closed-while-starting' }
  /** A usage or config error found before registering (an unwritable --log-file, a taken --cluster-proxy port). */
  | { kind: 'config-error'; error: ConfigError }
  | { kind: 'auth-refused'; error: AuthRefusedError }
  /** The server refused the registration for good, is not a standin server, or TLS to it failed. */
  | { kind: 'config-refused'; error: Error }
  /** Anything else (an unreachable server with --no-reconnect, a full port range, …). */
  | { kind: 'not-registered'; error: Error };

/** The one table: the exit code for each way a tunnel can end, before or after it went live. */
export function exitCodeOf(outcome: TunnelEnd | StartFailure): ExitCode {
  switch (outcome.kind) {
    case 'stopped':
    case 'closed-while-starting':
      return EXIT.ok;
    case 'config-error':
    case 'config-refused':
      return EXIT.config;
    case 'auth-refused':
      return EXIT.auth;
    case 'session-ended':
      // Another client took the name over: not this tunnel's life running out.
      return outcome.error.code === 'session_replaced' ? EXIT.other : EXIT.ended;
    case 'connection-lost':
    case 'not-registered':
      return EXIT.other;
    default: {
      const unhandled: never = outcome;
      throw new Error(`unhandled tunnel outcome ${JSON.stringify(unhandled)}`);
    }
  }
}

/** What an error from startTunnel() (live-tunnel.ts) means. */
export function startFailureOf(error: unknown): StartFailure {
  if (error instanceof TunnelClosedError) return { kind: 'closed-while-starting' };
  if (error instanceof ConfigError) return { kind: 'config-error', error };
  if (error instanceof AuthRefusedError) return { kind: 'auth-refused', error };
  if (classifyFailure(error, 'register') === 'exit-config') return { kind: 'config-refused', error: error as Error };
  return { kind: 'not-registered', error: error as Error };
}

/** The exit code when the tunnel never became live, after saying why. */
export function exitCodeForStartFailure(error: unknown, server: URL, logger: Logger): ExitCode {
  const failure = startFailureOf(error);
  switch (failure.kind) {
    case 'closed-while-starting':
      break;
    case 'config-error':
      process.stderr.write(`standin: ${failure.error.message}\n`);
      break;
    case 'auth-refused':
      logger.error('authentication refused', { server: server.origin, error: failure.error.message });
      break;
    case 'config-refused': {
      const code = failureCode(failure.error);
      const message =
        code === 'not_a_standin_server'
          ? 'not a standin server'
          : isTlsFailure(code)
            ? 'cannot reach the server over TLS'
            : 'the server refused the registration';
      logger.error(message, { server: server.origin, code, reason: describeFailure(failure.error), error: failure.error.message });
      break;
    }
    case 'not-registered':
      logger.error('could not register the tunnel', { server: server.origin, error: failure.error.message });
      break;
    default: {
      const unhandled: never = failure;
      throw new Error(`unhandled start failure ${JSON.stringify(unhandled)}`);
    }
  }
  return exitCodeOf(failure);
}

/** The exit code when a live tunnel ended, after saying why. */
export function exitCodeFor(end: TunnelEnd, logger: Logger): ExitCode {
  switch (end.kind) {
    case 'stopped':
      logger.info('tunnel released');
      break;
    case 'auth-refused':
      logger.error('authentication refused', { error: end.error.message });
      break;
    case 'config-refused':
      logger.error('the server refused the registration', { error: end.error.message });
      break;
    case 'connection-lost':
      logger.error('connection lost and --no-reconnect is set', { error: end.error.message });
      break;
    case 'session-ended':
      logger.error(sessionEndMessage(end.error.reason), { code: end.error.code, reason: end.error.reason, error: end.error.message });
      break;
    default: {
      const unhandled: never = end;
      throw new Error(`unhandled tunnel end ${JSON.stringify(unhandled)}`);
    }
  }
  return exitCodeOf(end);
}

/** What the developer reads when the server ended the tunnel. */
function sessionEndMessage(reason: SessionEndReason | undefined): string {
  switch (reason) {
    case 'expired':
      return 'the tunnel expired: run standin connect again, or add --renew to register again automatically';
    case 'stopped':
      return 'an admin stopped the tunnel';
    case 'replaced':
      return 'another client registered this tunnel name';
    default:
      return 'the server ended the tunnel';
  }
}
