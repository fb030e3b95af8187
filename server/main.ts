/** `standin server`: read config, build the logger, start, and stop on SIGTERM/SIGINT. */

import { createLogger } from '../shared/logger';
import { toServerConfig, type ServerArgv } from './config';
import { startStandinServer } from './standin-server';

export async function runServer(argv: ServerArgv): Promise<void> {
  const config = toServerConfig(argv);
  const logger = createLogger({ format: config.logFormat, level: config.logLevel });
  const server = await startStandinServer(config, logger);
  const stop = (signal: string) => {
    logger.info('stopping', { signal });
    server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
