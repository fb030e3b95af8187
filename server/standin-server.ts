/** Builds a standin server from its config and runs it: main port, tunnel ports, shutdown. */

import { createHmac } from 'node:crypto';
import type { Logger } from '#shared/logger';
import { configureLogPrivacy } from '#shared/trace-fields';
import { POLL_GRACE_MS } from '#shared/protocol/limits';
import type { ServerConfig } from './config';
import { ServerDrain } from './lifecycle/server-drain';
import { EndedSessions } from './core/ended-sessions';
import { HandedRequests } from './core/handed-requests';
import { HealthMonitor } from './lifecycle/health-monitor';
import { createHttpListener } from './listeners/http-listener';
import { createMainPortHandler } from './listeners/main-port';
import { createMainPortUpgradeHandler } from './data-path/main-port-upgrade';
import { StandinMetrics } from './observability/metrics';
import { InMemoryPortPool } from './core/port-pool';
import { portsInUse } from './port-range-check';
import { listen, PublicPorts } from './listeners/public-ports';
import { serveThroughTunnel } from './data-path/tunnel-traffic';
import { describeStart } from './start-banner';
import type { ServerContext } from './server-context';
import { InMemoryTunnelRegistry } from './core/tunnel-registry';
import { serveUpgradeThroughTunnel } from './data-path/upgrade-traffic';
import { startTunnelSweeper } from './lifecycle/tunnel-sweeper';
import { ClientAuthenticator } from './identity/client-authenticator';
import { InMemoryNameClaimStore } from './identity/name-claims';
import { PrivateAccess } from './identity/private-access';
import { RequestIds } from './core/request-ids';
import { ReplicaMode } from './replicas/replica-mode';

/** A started server. */
export interface RunningServer {
  /** The main port actually bound (differs from the config when it asked for 0). */
  mainPort: number;
  context: ServerContext;
  /** Stops the tunnel ports from accepting connections (graceful shutdown). */
  stopAcceptingTraffic(): void;
  /** Stops the main port from accepting connections; calls under way on open ones go on (a replica's drain). */
  stopAcceptingClientCalls(): void;
  close(): Promise<void>;
}

/** Warns when other processes hold tunnel ports: all of them means no tunnel can register. */
async function warnAboutTakenTunnelPorts(config: ServerConfig, logger: Logger): Promise<void> {
  if (!config.tunnelPorts) return;
  const range = `${config.tunnelPorts.from}-${config.tunnelPorts.to}`;
  const taken = await portsInUse(config.tunnelPorts, config.bindAddress);
  const size = config.tunnelPorts.to - config.tunnelPorts.from + 1;
  if (taken.length === size)
    logger.warn(`every tunnel port in ${range} is in use by another process: no tunnel can register; free them or choose another --ports`, {
      tunnelPorts: range,
    });
  else if (taken.length > 0)
    logger.warn('some tunnel ports are in use by another process and will be skipped', {
      tunnelPorts: range,
      inUse: taken.slice(0, 20).join(','),
      inUseCount: taken.length,
    });
}

/** A key for one purpose, derived from the cluster secret (so the secret itself signs nothing else). */
function derivedKey(secret: string, purpose: string): Buffer {
  return createHmac('sha256', secret).update(purpose).digest();
}

/** Opens every port of the range (replica mode); one another process holds is skipped with a warning. */
async function openEveryTunnelPort(ctx: ServerContext, range: { from: number; to: number }): Promise<void> {
  for (let port = range.from; port <= range.to; port++) {
    if (!(await ctx.publicPorts.ensureOpen(port))) ctx.portPool?.retire(port);
  }
}

/** Creates the server's parts and starts listening on the main port. */
export async function startStandinServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  configureLogPrivacy(config);
  const registry = new InMemoryTunnelRegistry();
  const replicas = config.replication ? new ReplicaMode(config.replication, config, logger, registry) : null;
  const portPool = replicas ? replicas.shared.portPool : config.tunnelPorts ? new InMemoryPortPool(config.tunnelPorts) : null;
  const handed = new HandedRequests();
  const requestIds = replicas ? replicas.requestIds : new RequestIds();
  const health = new HealthMonitor(registry, config.healthIntervalMs, logger, requestIds);
  const context: ServerContext = {
    config,
    logger,
    registry,
    handed,
    portPool,
    publicPorts: new PublicPorts(
      (port, req, res) => serveThroughTunnel(context, portPool?.nameForPort(port) ?? `port-${port}`, req, res),
      (port, req, socket, head) => serveUpgradeThroughTunnel(context, portPool?.nameForPort(port) ?? `port-${port}`, req, socket, head),
      config.publicPortLimits,
      logger,
      config.bindAddress,
    ),
    health,
    metrics: new StandinMetrics({ registry, handed, health }),
    drain: new ServerDrain(),
    auth: new ClientAuthenticator(config, logger),
    claims: replicas ? replicas.shared.claims : new InMemoryNameClaimStore(),
    // Replicas must agree on the cookie key: a link opened on one replica is checked on another.
    privateAccess: new PrivateAccess(
      config.replication ? derivedKey(config.replication.clusterSecret, 'private-tunnel-cookies') : undefined,
    ),
    requestIds,
    endedSessions: new EndedSessions(2 * (config.pollTimeoutMs + POLL_GRACE_MS)),
    replicas,
  };
  await replicas?.start(context);
  const stopSweeper = startTunnelSweeper(context);
  context.health.start();
  const mainPortUpgrades = createMainPortUpgradeHandler(context);
  const mainServer = createHttpListener({
    limits: config.publicPortLimits,
    // A held long-poll carries no bytes for a whole poll timeout.
    idleTimeoutMs: Math.max(config.publicPortLimits.idleTimeoutMs, config.pollTimeoutMs + POLL_GRACE_MS + 5_000),
    logger,
    onRequest: createMainPortHandler(context),
    onUpgrade: (req, socket, head) => mainPortUpgrades.handle(req, socket, head),
  });
  // Keepalive probes notice a client's connection whose peer vanished without a FIN or RST.
  mainServer.on('connection', (socket) => socket.setKeepAlive(true, 15_000));
  const mainPort = await listen(mainServer, config.listenPort, config.bindAddress);
  const mainPortClosed = new Promise<void>((resolve) => mainServer.once('close', () => resolve()));
  await warnAboutTakenTunnelPorts(config, logger);
  // Every replica serves every tunnel's port: browsers reach whichever one the Service picks.
  if (replicas && config.tunnelPorts) await openEveryTunnelPort(context, config.tunnelPorts);
  if (!context.auth.hasClientAuth)
    logger.warn(
      'NO TOKEN SET: anyone who can reach this server can register tunnels; use --token, --token-file, --tokens-file or --oidc-issuer',
    );
  if (context.auth.tokensFileUsers !== null)
    logger.info('tokens file loaded', { file: config.tokensFile, users: context.auth.tokensFileUsers });
  logger.info('standin server listening', {
    port: mainPort,
    tunnelPorts: config.tunnelPorts ? `${config.tunnelPorts.from}-${config.tunnelPorts.to}` : 'none',
    ...describeStart(config, mainPort),
  });
  return {
    mainPort,
    context,
    stopAcceptingTraffic() {
      context.publicPorts.stopAccepting();
    },
    stopAcceptingClientCalls() {
      if (mainServer.listening) mainServer.close();
    },
    async close() {
      // Upgraded sockets are no longer the HTTP servers' to close, and server.close() would wait for them.
      for (const tunnel of context.registry.list()) tunnel.upgrades.closeAll('server shutting down');
      mainPortUpgrades.closeAll('server shutting down');
      stopSweeper();
      context.health.stop();
      context.auth.close();
      await replicas?.close();
      await context.publicPorts.closeAll();
      if (mainServer.listening) mainServer.close();
      mainServer.closeAllConnections();
      await mainPortClosed;
    },
  };
}
