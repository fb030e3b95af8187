/**
 * `standin connect <target>`: read config, register the tunnel, serve until Ctrl-C or until the
 * server ends the session. Exit codes (exit-codes.ts): 0 clean stop, 2 usage or config error,
 * 3 token refused, 4 tunnel expired or stopped by an admin, 1 anything else.
 */

import { ConfigError } from '#shared/errors';
import { createLogger, type Logger } from '#shared/logger';
import { configureLogPrivacy } from '#shared/trace-fields';
import { deriveTunnelName, toClientConfig, type ClientArgv } from './config';
import { EXIT, exitCodeFor, exitCodeForStartFailure } from './exit-codes';
import { keepRunningOnUncaughtErrors } from './last-resort-handler';
import { startTunnel } from '../session/live-tunnel';
import { Terminal } from './terminal';

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
    logger.warn(
      'the token was given with --token, so other users of this machine can read it (ps); set STANDIN_TOKEN or use --token-file instead',
    );
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
