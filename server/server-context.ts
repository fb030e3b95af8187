/** What the server's routes share: settings, the tunnels, and the logger. Built once in standin-server.ts. */

import type { Logger } from '#shared/logger';
import type { ServerConfig } from './config';
import type { ServerDrain } from './lifecycle/server-drain';
import type { HandedRequests } from './core/handed-requests';
import type { HealthMonitor } from './lifecycle/health-monitor';
import type { StandinMetrics } from './observability/metrics';
import type { PortPool } from './core/port-pool';
import type { PublicPorts } from './listeners/public-ports';
import type { TunnelRegistry } from './core/tunnel-registry';
import type { ClientAuthenticator } from './identity/client-authenticator';
import type { NameClaimStore } from './identity/name-claims';
import type { PrivateAccess } from './identity/private-access';
import type { EndedSessions } from './core/ended-sessions';
import type { RequestIds } from './core/request-ids';
import type { Replication } from './replicas/replication';

export interface ServerContext {
  config: ServerConfig;
  logger: Logger;
  registry: TunnelRegistry;
  handed: HandedRequests;
  /** Null when port mode is off (`--ports none`). */
  portPool: PortPool | null;
  publicPorts: PublicPorts;
  health: HealthMonitor;
  metrics: StandinMetrics;
  /** Set on SIGTERM: readiness fails, tunnel ports and registration refuse new work. */
  drain: ServerDrain;
  /** Who a request's bearer credential says it is. */
  auth: ClientAuthenticator;
  /** Who holds which tunnel name. */
  claims: NameClaimStore;
  /** Access keys and cookies of private tunnels. */
  privateAccess: PrivateAccess;
  /** Ids of browser requests and probes (in replica mode they name this replica). */
  requestIds: RequestIds;
  /** Sessions of forgotten tunnels, so a late poll is told its session ended. */
  endedSessions: EndedSessions;
  /** Replica mode (--redis), or null for a single server. */
  replicas: Replication | null;
}
