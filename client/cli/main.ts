/**
 * `standin connect <target>`: read config, register the tunnel, serve until Ctrl-C or until the
 * server ends the session. Exit codes (docs/design.md "Client exit codes"): 0 clean stop, 2 usage or config error,
 * 3 token refused, 4 tunnel expired or stopped by an admin, 1 anything else.
 */

import { AuthRefusedError, ConfigError, TunnelClosedError } from '../../shared/errors';
import { createLogger, type Logger } from '../../shared/logger';
import { configureLogPrivacy } from '../../shared/trace-fields';
import type { SessionEndReason } from '../../shared/protocol/session-end';
import { deriveTunnelName, toClientConfig, type ClientArgv } from './config';
import { classifyFailure, describeFailure, failureCode, isTlsFailure } from '../session/connection-failure';
import { keepRunningOnUncaughtErrors } from './last-resort-handler';
import { startTunnel } from '../session/live-tunnel';
import { Terminal } from './terminal';
import type { TunnelEnd } from '../session/tunnel-client';

/** Process exit codes of `standin connect`. */
export const EXIT = { ok: 0, other: 1, config: 2, auth: 3, ended: 4 } as const;

export async function runConnect(argv: ClientArgv): Promise<number> {
  let config;
  try {
    config = toClientConfig(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`standin: ${error.message}\n`);
      return EXIT.config;
    }
    throw error;
  }
  const logger = createLogger({ format: config.logFormat, level: config.logLevel });
  keepRunningOnUncaughtErrors(logger);
  configureLogPrivacy(config);
  if (config.tokenOnCommandLine) {
    logger.warn('the token was given with --token, so other users of this machine can read it (ps); set STANDIN_TOKEN or use --token-file instead');
  }
  const name = config.name ?? deriveTunnelName(config.target);
  const terminal = new Terminal(name, logger, config.logFormat === 'pretty', process.stdout, config.quiet, config.colors);
  // Installed before anything else, so Ctrl-C at any moment (even mid-registration) stops cleanly.
  const stopping = new AbortController();
  stopOnSignals(stopping, logger);

  let tunnel;
  try {
    tunnel = await startTunnel({ config, logger, terminal, signal: stopping.signal });
  } catch (error) {
    return exitCodeForStartFailure(error, config.server, logger);
  }
  return exitCodeFor(await tunnel.ended, logger);
}

/**
 * The first Ctrl-C (or SIGTERM) releases the tunnel and lets requests with the app finish (the
 * tunnel says what it waits for); a second one stops at once.
 */
function stopOnSignals(stopping: AbortController, logger: Logger): void {
  const onSignal = () => {
    if (stopping.signal.aborted) {
      logger.warn('forced stop');
      process.exit(EXIT.other);
    }
    stopping.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** The exit code when the tunnel never became live, after saying why. */
export function exitCodeForStartFailure(error: unknown, server: URL, logger: Logger): number {
  if (error instanceof TunnelClosedError) return EXIT.ok;
  if (error instanceof ConfigError) {
    process.stderr.write(`standin: ${error.message}\n`);
    return EXIT.config;
  }
  if (error instanceof AuthRefusedError) {
    logger.error('authentication refused', { server: server.origin, error: error.message });
    return EXIT.auth;
  }
  if (classifyFailure(error, 'register') === 'exit-config') {
    const code = failureCode(error);
    const message = code === 'not_a_standin_server' ? 'not a standin server' : isTlsFailure(code) ? 'cannot reach the server over TLS' : 'the server refused the registration';
    logger.error(message, { server: server.origin, code, reason: describeFailure(error), error: (error as Error).message });
    return EXIT.config;
  }
  logger.error('could not register the tunnel', { server: server.origin, error: (error as Error).message });
  return EXIT.other;
}

export function exitCodeFor(end: TunnelEnd, logger: Logger): number {
  switch (end.kind) {
    case 'stopped':
      logger.info('tunnel released');
      return EXIT.ok;
    case 'auth-refused':
      logger.error('authentication refused', { error: end.error.message });
      return EXIT.auth;
    case 'config-refused':
      logger.error('the server refused the registration', { error: end.error.message });
      return EXIT.config;
    case 'connection-lost':
      logger.error('connection lost and --no-reconnect is set', { error: end.error.message });
      return EXIT.other;
    case 'session-ended':
      logger.error(sessionEndMessage(end.error.reason), { code: end.error.code, reason: end.error.reason, error: end.error.message });
      return end.error.code === 'session_replaced' ? EXIT.other : EXIT.ended;
    default: {
      const unhandled: never = end;
      throw new Error(`unhandled tunnel end ${JSON.stringify(unhandled)}`);
    }
  }
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
