/**
 * `standin connect <target>`: read config, register the tunnel, serve until Ctrl-C or until the
 * server ends the session. Exit codes (DESIGN.md): 0 clean stop, 2 usage or config error,
 * 3 token refused, 4 tunnel expired or stopped by an admin, 1 anything else.
 */

import { AuthRefusedError, ConfigError } from '../shared/errors';
import { createLogger } from '../shared/logger';
import type { SessionEndReason } from '../shared/protocol';
import { deriveTunnelName, toClientConfig, type ClientArgv } from './config';
import { rememberedPort, rememberPort } from './state-file';
import { Terminal } from './terminal';
import { TunnelClient, type TunnelEnd } from './tunnel-client';

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
  const name = config.name ?? deriveTunnelName(config.target);
  const terminal = new Terminal(name, logger, config.logFormat === 'pretty');
  const client = new TunnelClient(config, name, config.port ?? rememberedPort(config.server, name), logger, terminal);
  // Installed before anything else, so Ctrl-C at any moment (even mid-registration) stops cleanly.
  let stopRequested = false;
  const stopOnSignal = () => {
    stopRequested = true;
    void client.stop();
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  let registered;
  try {
    registered = await client.register();
  } catch (error) {
    await client.stop();
    if (stopRequested) return EXIT.ok;
    if (error instanceof AuthRefusedError) {
      logger.error('authentication refused', { server: config.server.origin, error: error.message });
      return EXIT.auth;
    }
    logger.error('could not register the tunnel', { server: config.server.origin, error: (error as Error).message });
    return EXIT.other;
  }
  rememberPort(config.server, name, registered.port);
  terminal.tunnelReady(config.server, config.target, registered);

  if (stopRequested) return EXIT.ok;
  const end = await client.run();
  await client.stop();
  return exitCodeFor(end, logger);
}

function exitCodeFor(end: TunnelEnd, logger: ReturnType<typeof createLogger>): number {
  switch (end.kind) {
    case 'stopped':
      logger.info('tunnel released');
      return EXIT.ok;
    case 'auth-refused':
      logger.error('authentication refused', { error: end.error.message });
      return EXIT.auth;
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
