/**
 * `standin up [--config <file>]`: every tunnel of standin.yaml in one process, with one
 * inspector and one terminal where each tunnel's lines start with its key ("[shop] ").
 * All tunnels register before it reports ready; if one cannot, the others are released and it
 * exits as `standin connect` would for that failure. Once up, a tunnel the server ends is
 * reported and the others keep serving; Ctrl-C releases them all. Exit code: the first non-zero
 * of the tunnels' own codes (client/cli/exit-codes.ts), 0 after Ctrl-C.
 */

import type { Argv } from 'yargs';
import { ConfigError } from '#shared/errors';
import { configureLogPrivacy } from '#shared/trace-fields';
import { createLogger, defaultLogFormat, LOG_LEVELS } from '#shared/logger';
import { deriveTunnelName } from './config';
import { startInspector, type Inspector } from '../inspector/inspector';
import { startTunnel, type LiveTunnel } from '../session/live-tunnel';
import { EXIT, exitCodeFor, exitCodeForStartFailure } from './exit-codes';
import { keepRunningOnUncaughtErrors } from './last-resort-handler';
import { findProjectConfig, loadProjectConfig, type ProjectConfig } from './project-config';
import { Terminal } from './terminal';

/** Declares the options of `standin up`. */
export function upOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('config', {
      type: 'string',
      description: 'The project file',
      defaultDescription: 'standin.yaml here or in the nearest folder above',
    })
    .option('log-format', {
      choices: ['json', 'pretty'] as const,
      description: 'Log format (wins over the file)',
      defaultDescription: "the file's, else pretty on a terminal, else json",
    })
    .option('log-level', {
      choices: LOG_LEVELS,
      description: 'Log level (wins over the file)',
      defaultDescription: "the file's, else info",
    });
}

/** The parsed argv of `standin up`. */
export type UpArgv = Awaited<ReturnType<typeof upOptions>['argv']>;

export async function runUp(argv: UpArgv): Promise<number> {
  let project: ProjectConfig;
  try {
    project = loadProjectConfig(findProjectConfig(argv.config));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`standin: ${error.message}\n`);
    return EXIT.config;
  }
  const format = argv['log-format'] ?? project.logFormat ?? defaultLogFormat();
  const pretty = format === 'pretty';
  const logger = createLogger({ format, level: argv['log-level'] ?? project.logLevel ?? 'info' });
  keepRunningOnUncaughtErrors(logger);
  // One policy for the process: log-query and log-header are top-level keys, the same in every tunnel.
  configureLogPrivacy(project.tunnels[0].config);
  const stopping = new AbortController();
  const stopOnSignal = () => stopping.abort();
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  // Labels padded to one width, so the request lines of all tunnels line up.
  const width = Math.max(...project.tunnels.map((tunnel) => tunnel.key.length));
  const tunnels = project.tunnels.map((tunnel) => {
    const name = tunnel.config.name ?? deriveTunnelName(tunnel.config.target);
    const tunnelLogger = logger.child({ tunnelKey: tunnel.key });
    const terminal = new Terminal(
      name,
      tunnelLogger,
      pretty,
      process.stdout,
      tunnel.config.quiet,
      tunnel.config.colors,
      `[${tunnel.key.padEnd(width)}] `,
    );
    return { ...tunnel, name, logger: tunnelLogger, terminal };
  });
  const byName = new Map(tunnels.map((tunnel) => [tunnel.name, tunnel]));
  const inspector = await startSharedInspector(project, logger, (tunnel) => byName.get(tunnel));

  const started = await Promise.allSettled(
    tunnels.map((tunnel) =>
      startTunnel({
        config: tunnel.config,
        logger: tunnel.logger,
        terminal: tunnel.terminal,
        signal: stopping.signal,
        sharedInspector: inspector,
      }),
    ),
  );
  const live = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.findIndex((result) => result.status === 'rejected');
  if (failed !== -1) {
    stopping.abort();
    await Promise.allSettled(live.map((tunnel) => tunnel.close()));
    await inspector?.close();
    const reason: unknown = (started[failed] as PromiseRejectedResult).reason;
    return exitCodeForStartFailure(reason, tunnels[failed].config.server, tunnels[failed].logger);
  }
  const codes = await Promise.all(live.map((tunnel, index) => waitForEnd(tunnel, tunnels[index].logger)));
  await inspector?.close();
  return codes.find((code) => code !== EXIT.ok) ?? EXIT.ok;
}

async function waitForEnd(tunnel: LiveTunnel, logger: ReturnType<typeof createLogger>): Promise<number> {
  return exitCodeFor(await tunnel.ended, logger);
}

/** One inspector for every tunnel; a replay goes to the app of the tunnel that served the request. */
async function startSharedInspector(
  project: ProjectConfig,
  logger: ReturnType<typeof createLogger>,
  tunnelNamed: (name: string) => { config: { target: URL; preserveHost: boolean }; terminal: Terminal } | undefined,
): Promise<Inspector | null> {
  if (project.inspectPort === null) return null;
  const first = project.tunnels[0].config;
  try {
    return await startInspector({
      port: project.inspectPort,
      target: first.target,
      preserveHost: first.preserveHost,
      targetOf: (name) => tunnelNamed(name)?.config,
      onReplayDone: (record) => tunnelNamed(record.tunnel)?.terminal.request(record),
    });
  } catch (error) {
    logger.warn('request inspector not started', { error: (error as Error).message });
    return null;
  }
}
