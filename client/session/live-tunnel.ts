/**
 * One tunnel from registration to release, as `standin connect`, `standin up`, the programmatic
 * API and the Vite plugin all run it: register (retrying an unreachable server), remember the
 * port, wire the request log and the inspector, announce it, serve until the session ends or
 * close() is called, then release and close what it opened. Callers only decide how to talk
 * to the developer (terminal, exit code, promise, events).
 */

import { ConfigError, TunnelClosedError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import type { PublicUrls, RegisterResponse } from '#shared/protocol/messages';
import { checkTcp } from '../forwarding/app-health-check';
import { deriveTunnelName, type ClientConfig } from '../cli/config';
import { startInspector, type Inspector } from '../inspector/inspector';
import type { RequestObserver, RequestRecord } from '../inspector/request-capture';
import { RequestLog } from '../cli/request-log';
import { startClusterProxy, type ClusterProxy } from '../cluster-proxy/cluster-proxy';
import { PREVIEW_CAP_BYTES } from '../inspector/body-preview';
import { rememberedClaimKey, rememberedPort, rememberTunnel } from './state-file';
import type { Terminal } from '../cli/terminal';
import { TunnelClient } from './tunnel-client';
import type { TunnelEnd } from './tunnel-run';

/** Where a live tunnel can be reached from a browser: the links the server says work. */
export type TunnelUrls = PublicUrls;

export interface StartTunnelOptions {
  config: ClientConfig;
  logger: Logger;
  terminal: Terminal;
  /** Aborting stops the tunnel at any moment, even while it registers (Ctrl-C). */
  signal?: AbortSignal;
  /**
   * The inspector to record into, when the caller runs one for several tunnels (standin up).
   * Without it, one is started on config.inspectPort unless that is null.
   */
  sharedInspector?: Inspector | null;
}

/** A registered tunnel serving requests. */
export interface LiveTunnel {
  readonly name: string;
  /** The registration answer (the latest one after a reconnect). */
  readonly registered: RegisterResponse;
  readonly urls: TunnelUrls;
  /** The inspector's URL, or null without one. */
  readonly inspectorUrl: string | null;
  /** Calls `observer` with every finished request, replays from the inspector included. */
  onRequest(observer: RequestObserver): void;
  /** Resolves once the tunnel stopped and released everything it opened. */
  readonly ended: Promise<TunnelEnd>;
  /** Releases the tunnel, letting requests already with the app finish briefly. */
  close(): Promise<TunnelEnd>;
}

/**
 * Registers and starts serving. Throws ConfigError (an unwritable --log-file), TunnelClosedError
 * when `signal` aborted first, or what the registration threw (AuthRefusedError,
 * ProtocolMismatchError, StandinError with the server's code).
 */
export async function startTunnel(options: StartTunnelOptions): Promise<LiveTunnel> {
  const { config, logger, terminal, signal } = options;
  const name = config.name ?? deriveTunnelName(config.target);
  let requestLog: RequestLog | null;
  try {
    requestLog = config.logFile ? RequestLog.open(config.logFile) : null;
  } catch (error) {
    throw new ConfigError((error as Error).message, { cause: error });
  }
  const client = new TunnelClient(config, name, logger, terminal, {
    preferredPort: config.port ?? rememberedPort(config.server, name),
    claimKey: rememberedClaimKey(config.server, name),
  });
  const stop = () => {
    // A stream (server-sent events, a download) can take a while: say what the stop waits for.
    const waitingFor = client.requestsInProgress;
    if (waitingFor > 0)
      logger.warn(`waiting for ${waitingFor} request${waitingFor === 1 ? '' : 's'} to finish, Ctrl-C again to force`, {
        requests: waitingFor,
      });
    void client.stop();
  };
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();

  const observers: RequestObserver[] = [];
  const notify = (record: RequestRecord) => {
    requestLog?.write(record);
    for (const observer of observers) observer(record);
  };
  let inspector: Inspector | null = null;
  // Before registering: a port that is taken is a usage error, found before anything else happens.
  let clusterProxy: ClusterProxy | null = null;
  try {
    clusterProxy = await startClusterProxyIfAsked(config, client, name, logger, (record) => {
      terminal.request(record);
      notify(record);
      inspector?.record(record);
    });
  } catch (error) {
    await client.stop();
    await requestLog?.close();
    signal?.removeEventListener('abort', stop);
    throw new ConfigError((error as Error).message, { cause: error });
  }

  let registered: RegisterResponse;
  try {
    registered = await client.registerFirst();
    if (client.isStopping) throw new TunnelClosedError('the tunnel was closed while it registered');
  } catch (error) {
    const closedByCaller = client.isStopping;
    await client.stop();
    await Promise.allSettled([clusterProxy?.close(), requestLog?.close()]);
    signal?.removeEventListener('abort', stop);
    throw closedByCaller ? new TunnelClosedError('the tunnel was closed while it registered', { cause: error }) : error;
  }
  warnIfPortReplaced(logger, config.port ?? rememberedPort(config.server, name), registered.port);
  await warnIfAppIsNotListening(logger, config.target);
  rememberTunnel(config.server, name, registered.port, registered.claimKey);

  const ownInspector =
    options.sharedInspector === undefined
      ? await startInspectorIfAsked(config, logger, (record) => {
          terminal.request(record);
          notify(record);
        })
      : null;
  inspector = options.sharedInspector ?? ownInspector;
  inspector?.attachTunnel(name, client.callCompare);
  client.onRequestDone((record) => {
    notify(record);
    inspector?.record(record);
  });
  terminal.tunnelReady(config.server, config.target, registered, inspector?.url ?? null);
  if (clusterProxy) terminal.clusterProxyReady(clusterProxy.url);
  client.onReregistered((again) => {
    registered = again;
    rememberTunnel(config.server, name, again.port, again.claimKey);
  });

  const ended = client.run().then(async (end) => {
    // When the server ended the session it has already answered the requests still with the app.
    await client.stop({ waitForRequests: end.kind === 'stopped' });
    await Promise.allSettled([ownInspector?.close(), clusterProxy?.close(), requestLog?.close()]);
    signal?.removeEventListener('abort', stop);
    return end;
  });
  return {
    name,
    get registered() {
      return registered;
    },
    get urls() {
      return tunnelUrls(config.server, registered);
    },
    inspectorUrl: inspector ? inspector.url : null,
    onRequest: (observer) => void observers.push(observer),
    ended,
    close: async () => {
      await client.stop();
      return ended;
    },
  };
}

/** The browser-facing URLs of a registration (a server without `urls` in its answer: the port link only). */
export function tunnelUrls(server: URL, registered: RegisterResponse): TunnelUrls {
  if (registered.urls) return { ...registered.urls };
  return registered.port === null ? {} : { port: `http://${server.hostname}:${registered.port}/` };
}

/** The server gives another port when the wanted one is held by another tunnel or outside its range: say so. */
function warnIfPortReplaced(logger: Logger, wantedPort: number | undefined, grantedPort: number | null): void {
  if (wantedPort === undefined || grantedPort === null || wantedPort === grantedPort) return;
  logger.warn(`port ${wantedPort} is taken or outside the server's range, so this tunnel got port ${grantedPort}`, {
    wantedPort,
    port: grantedPort,
  });
}

/** Nothing listening on the target is the most common first mistake: say so at start, not at the first 502. */
async function warnIfAppIsNotListening(logger: Logger, target: URL): Promise<void> {
  const check = await checkTcp(target);
  if (!check.ok)
    logger.warn(`nothing answers on ${target.origin} yet: start your app there; until then browsers get 502 app_unreachable`, {
      target: target.origin,
      error: check.error,
    });
}

/** The cluster proxy with --cluster-proxy; throws when its port cannot be had. */
async function startClusterProxyIfAsked(
  config: ClientConfig,
  client: TunnelClient,
  name: string,
  logger: Logger,
  report: RequestObserver,
): Promise<ClusterProxy | null> {
  if (config.clusterProxyPort === null) return null;
  return startClusterProxy({
    port: config.clusterProxyPort,
    tunnel: name,
    call: client.callOutbound,
    report,
    previewCapBytes: config.inspectPort === null ? 0 : PREVIEW_CAP_BYTES,
    logger,
  });
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
