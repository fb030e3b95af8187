/**
 * `standin connect <target>`: read config, register the tunnel, serve until Ctrl-C or until the
 * server ends the session. Exit codes (docs/design.md "Client exit codes"): 0 clean stop, 2 usage or config error,
 * 3 token refused, 4 tunnel expired or stopped by an admin, 1 anything else.
 */

import { AuthRefusedError, ConfigError } from '../shared/errors';
import { createLogger, type Logger } from '../shared/logger';
import { configureLogPrivacy } from '../shared/trace-fields';
import type { SessionEndReason } from '../shared/protocol';
import { deriveTunnelName, toClientConfig, type ClientArgv, type ClientConfig } from './config';
import { checkTcp } from './app-health-check';
import { startClusterProxy, type ClusterProxy } from './cluster-proxy/cluster-proxy';
import { classifyFailure, describeFailure, failureCode, isTlsFailure } from './connection-failure';
import { startInspector, type Inspector } from './inspector/inspector';
import { PREVIEW_CAP_BYTES } from './body-preview';
import type { RequestObserver } from './request-capture';
import { keepRunningOnUncaughtErrors } from './last-resort-handler';
import { RequestLog } from './request-log';
import { rememberedClaimKey, rememberedPort, rememberTunnel } from './state-file';
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
  keepRunningOnUncaughtErrors(logger);
  configureLogPrivacy(config);
  if (config.tokenOnCommandLine) {
    logger.warn('the token was given with --token, so other users of this machine can read it (ps); set STANDIN_TOKEN or use --token-file instead');
  }
  const name = config.name ?? deriveTunnelName(config.target);
  const terminal = new Terminal(name, logger, config.logFormat === 'pretty', process.stdout, config.quiet, config.colors);
  let requestLog: RequestLog | null;
  try {
    requestLog = config.logFile ? RequestLog.open(config.logFile) : null;
  } catch (error) {
    process.stderr.write(`standin: ${(error as Error).message}\n`);
    return EXIT.config;
  }
  const client = new TunnelClient(config, name, config.port ?? rememberedPort(config.server, name), logger, terminal);
  client.claimKey = rememberedClaimKey(config.server, name);
  // Installed before anything else, so Ctrl-C at any moment (even mid-registration) stops cleanly.
  stopOnSignals(client, logger);
  // Before registering: a port that is taken is a usage error, found before anything else happens.
  // Records go to `reportOutbound`, which learns about the inspector once that runs.
  let reportOutbound: RequestObserver = (record) => {
    terminal.request(record);
    requestLog?.write(record);
  };
  let clusterProxy: ClusterProxy | null = null;
  try {
    clusterProxy = await startClusterProxyIfAsked(config, client, name, logger, (record) => reportOutbound(record));
  } catch (error) {
    await client.stop();
    process.stderr.write(`standin: ${(error as Error).message}\n`);
    return EXIT.config;
  }

  let registered;
  try {
    registered = await client.registerFirst();
  } catch (error) {
    const stoppedByUser = client.isStopping;
    await client.stop();
    if (stoppedByUser) return EXIT.ok;
    if (error instanceof AuthRefusedError) {
      logger.error('authentication refused', { server: config.server.origin, error: error.message });
      return EXIT.auth;
    }
    if (classifyFailure(error, 'register') === 'exit-config') {
      const code = failureCode(error);
      const message = code === 'not_a_standin_server' ? 'not a standin server' : isTlsFailure(code) ? 'cannot reach the server over TLS' : 'the server refused the registration';
      logger.error(message, { server: config.server.origin, code, reason: describeFailure(error), error: (error as Error).message });
      return EXIT.config;
    }
    logger.error('could not register the tunnel', { server: config.server.origin, error: (error as Error).message });
    return EXIT.other;
  }
  if (client.isStopping) {
    // Ctrl-C came while the registration was on its way.
    await client.stop();
    return EXIT.ok;
  }
  warnIfPortReplaced(logger, config.port ?? rememberedPort(config.server, name), registered.port);
  await warnIfAppIsNotListening(logger, config.target);
  rememberTunnel(config.server, name, registered.port, registered.claimKey);
  const inspector = await startInspectorIfAsked(config, logger, (record) => {
    terminal.request(record);
    requestLog?.write(record);
  });
  client.onRequestDone((record) => {
    requestLog?.write(record);
    inspector?.record(record);
  });
  reportOutbound = (record) => {
    terminal.request(record);
    requestLog?.write(record);
    inspector?.record(record);
  };
  terminal.tunnelReady(config.server, config.target, registered, inspector?.url ?? null);
  if (clusterProxy) terminal.clusterProxyReady(clusterProxy.url);
  client.onReregistered = (again) => rememberTunnel(config.server, name, again.port, again.claimKey);
  const end = await client.run();
  // When the server ended the session it has already answered the requests still with the app.
  await client.stop({ waitForRequests: end.kind === 'stopped' });
  await Promise.allSettled([inspector?.close(), clusterProxy?.close(), requestLog?.close()]);
  return exitCodeFor(end, logger);
}

/**
 * The first Ctrl-C (or SIGTERM) releases the tunnel and lets requests with the app finish; a
 * stream (server-sent events, a download) can take a while, so say what we wait for. A second
 * Ctrl-C stops at once.
 */
function stopOnSignals(client: TunnelClient, logger: Logger): void {
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) {
      logger.warn('forced stop');
      process.exit(EXIT.other);
    }
    const waitingFor = client.requestsInProgress;
    if (waitingFor > 0) logger.warn(`waiting for ${waitingFor} request${waitingFor === 1 ? '' : 's'} to finish, Ctrl-C again to force`, { requests: waitingFor });
    void client.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** The server gives another port when the wanted one is held by another tunnel or outside its range: say so. */
function warnIfPortReplaced(logger: Logger, wantedPort: number | undefined, grantedPort: number | null): void {
  if (wantedPort === undefined || grantedPort === null || wantedPort === grantedPort) return;
  logger.warn(`port ${wantedPort} is taken or outside the server's range, so this tunnel got port ${grantedPort}`, { wantedPort, port: grantedPort });
}

/** Nothing listening on the target is the most common first mistake: say so at start, not at the first 502. */
async function warnIfAppIsNotListening(logger: Logger, target: URL): Promise<void> {
  const check = await checkTcp(target);
  if (!check.ok) logger.warn(`nothing answers on ${target.origin} yet: start your app there; until then browsers get 502 app_unreachable`, { target: target.origin, error: check.error });
}

/** The cluster proxy with --cluster-proxy; throws ConfigError when its port cannot be had. */
async function startClusterProxyIfAsked(config: ClientConfig, client: TunnelClient, name: string, logger: Logger, report: RequestObserver): Promise<ClusterProxy | null> {
  if (config.clusterProxyPort === null) return null;
  return startClusterProxy({ port: config.clusterProxyPort, tunnel: name, call: client.callOutbound, report, previewCapBytes: config.inspectPort === null ? 0 : PREVIEW_CAP_BYTES, logger });
}

/** The inspector unless --no-inspect; a tunnel without it is still useful, so failing to listen only warns. */
async function startInspectorIfAsked(config: ClientConfig, logger: Logger, onReplayDone: RequestObserver): Promise<Inspector | null> {
  if (config.inspectPort === null) return null;
  try {
    return await startInspector({ port: config.inspectPort, target: config.target, preserveHost: config.preserveHost, onReplayDone });
  } catch (error) {
    logger.warn('request inspector not started', { error: (error as Error).message });
    return null;
  }
}

function exitCodeFor(end: TunnelEnd, logger: ReturnType<typeof createLogger>): number {
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
