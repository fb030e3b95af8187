/** `standin server`: read config, build the logger, start, and stop on SIGTERM/SIGINT. */

import { createLogger } from '#shared/logger';
import { toServerConfig, type ServerArgv } from './config';
import { shutDownGracefully } from './lifecycle/graceful-shutdown';
import { startStandinServer } from './standin-server';
import { describeStart, formatStartBanner } from './start-banner';

export async function runServer(argv: ServerArgv): Promise<void> {
  const config = toServerConfig(argv);
  const logger = createLogger({ format: config.logFormat, level: config.logLevel });
  const server = await startStandinServer(config, logger);
  if (config.logFormat === 'pretty') process.stdout.write(formatStartBanner(describeStart(config, server.mainPort)) + '\n');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal, graceSeconds: config.shutdownGraceMs / 1000 });
    // A second signal means "now": skip the rest of the grace.
    process.once(signal, () => process.exit(0));
    shutDownGracefully(server, config.shutdownGraceMs, logger).then(
      () => process.exit(0),
      (error: Error) => {
        logger.error('shutdown failed', { error: error.message });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
