/**
 * Replica mode (`standin server --redis`), docs/replicas.md: several servers behind one Service
 * share their tunnels. This is where its parts are built, started and stopped, and the few
 * questions the rest of the server asks of it are answered:
 * - shared-state.ts: tunnels, claims and ports, copied in every replica, changed through Redis;
 * - replica-directory.ts and poll-presence.ts: which replicas live, which hold whose polls;
 * - replica-router.ts and replica-forwarding.ts: which replica parks a browser request, and the
 *   pod-to-pod hops over the internal port (internal-port.ts) that get it and its answer there;
 * - health-lease.ts: the one replica that runs health checks.
 */

import type http from 'node:http';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import type { Logger } from '#shared/logger';
import type { GroupedResponse } from '#shared/protocol/messages';
import { encodeFrame } from '#shared/protocol/wire-frame';
import { newUuid } from '#shared/random-ids';
import { sendStandinError } from '../http/error-page';
import type { ServerConfig, ReplicationSettings } from '../config';
import { listen } from '../listeners/public-ports';
import { newReplicaTag, replicaTagOf, RequestIds } from '../core/request-ids';
import type { ServerContext } from '../server-context';
import type { ReplicaSummary, Replication } from './replication';
import type { RecentRequest, RecentRequestFacts } from '../observability/recent-requests';
import type { ReplicaView, Tunnel } from '../core/tunnel';
import { HealthLease } from './health-lease';
import { ReplicaHealth } from './replica-health';
import { createInternalListener } from './internal-port';
import { PollPresence } from './poll-presence';
import { RedisConnection } from './redis-connection';
import { ReplicaDirectory } from './replica-directory';
import { ReplicaForwarding } from './replica-forwarding';
import { ReplicaRouter } from './replica-router';
import { SharedState } from './shared-state';

export class ReplicaMode implements Replication {
  readonly redis: RedisConnection;
  readonly requestIds: RequestIds;
  readonly shared: SharedState;
  readonly directory: ReplicaDirectory;
  readonly presence: PollPresence;
  readonly router: ReplicaRouter;
  readonly forwarding: ReplicaForwarding;
  readonly lease: HealthLease;
  readonly health: ReplicaHealth;
  private internalServer: http.Server | undefined;
  private ctx: ServerContext | undefined;

  constructor(
    private readonly settings: ReplicationSettings,
    config: ServerConfig,
    private readonly logger: Logger,
    registry: ServerContext['registry'],
  ) {
    const tag = newReplicaTag();
    this.redis = new RedisConnection(settings.redisUrl, logger);
    this.requestIds = new RequestIds(tag);
    this.shared = new SharedState(this.redis, config.tunnelPorts, logger);
    this.directory = new ReplicaDirectory(
      this.redis,
      { id: `${os.hostname()}-${tag}`, tag, advertise: '', startedAt: Date.now(), draining: false },
      logger,
    );
    this.presence = new PollPresence(this.redis, this.directory, registry, logger);
    this.router = new ReplicaRouter(this.directory, this.presence);
    this.forwarding = new ReplicaForwarding(settings.clusterSecret, config.requestTimeoutMs, logger);
    this.lease = new HealthLease(this.redis, this.directory.self.id, logger);
    this.health = new ReplicaHealth(this.redis, this.lease, this.presence, this.directory, this.forwarding, logger);
  }

  get id(): string {
    return this.directory.self.id;
  }

  /** Opens the internal port, joins Redis and loads the shared tunnels. */
  async start(ctx: ServerContext): Promise<void> {
    this.ctx = ctx;
    this.internalServer = createInternalListener(ctx, this.settings.clusterSecret);
    const port = await listen(this.internalServer, this.settings.internalPort, ctx.config.bindAddress);
    this.directory.self.advertise = this.settings.advertise ?? `${defaultAdvertisedHost(ctx.config.bindAddress)}:${port}`;
    await this.redis.start();
    await this.directory.start();
    await this.shared.start(ctx);
    await this.presence.start();
    this.lease.start();
    await this.health.start(ctx.health, ctx.registry);
    this.logger.info('replica started', { replica: this.id, advertise: this.directory.self.advertise, internalPort: port });
  }

  get ready(): boolean {
    return this.redis.reachable;
  }

  get view(): ReplicaView {
    return this.presence;
  }

  get runsClusterChores(): boolean {
    return this.lease.held;
  }

  get hopsInFlight(): number {
    return this.forwarding.inFlight;
  }

  whileRegistering<T>(name: string, register: () => Promise<T>): Promise<T> {
    return this.shared.whileRegistering(name, register);
  }

  saveSession(tunnel: Tunnel): Promise<boolean> {
    return this.shared.saveSession(tunnel);
  }

  refreshTunnel(name: string): Promise<void> {
    return this.shared.refreshTunnel(name);
  }

  saveStop(tunnel: Tunnel): void {
    this.shared.saveStop(tunnel);
  }

  savePolled(tunnel: Tunnel): void {
    this.shared.savePolled(tunnel);
  }

  saveForgotten(name: string): void {
    this.shared.saveForgotten(name);
  }

  saveRecentRequest(name: string, facts: RecentRequestFacts): void {
    this.shared.saveRecentRequest(name, facts);
  }

  recentRequests(name: string): Promise<RecentRequest[]> {
    return this.shared.recentRequests(name);
  }

  replicaList(): ReplicaSummary[] {
    return this.directory.all().map((replica) => ({
      id: replica.id,
      startedAt: new Date(replica.startedAt).toISOString(),
      draining: replica.draining,
      self: replica.id === this.id,
    }));
  }

  /**
   * Sends a browser request of tunnel `name` to the replica whose poll will take it; false when
   * it is to be served here. `serveHere` takes it back when that replica turns out unreachable.
   */
  forwardIfElsewhere(name: string, req: http.IncomingMessage, res: http.ServerResponse, serveHere: () => void): boolean {
    const tunnel = this.ctx?.registry.get(name);
    const replica = tunnel && tunnel.state !== 'stopped' ? this.router.pick(tunnel) : undefined;
    if (!replica) return false;
    this.forwarding.forwardBrowserRequest(replica, name, req, res, (retryHere) => {
      this.router.markUnreachable(replica);
      // A body was already read into the refused hop: it cannot be sent again.
      if (!retryHere)
        return sendStandinError(req, res, 'tunnel_offline', {
          requestId: newUuid(),
          tunnel: name,
          message: 'The standin replica holding this tunnel could not be reached; retry in a moment.',
        });
      // Another replica may hold the client's polls; the router now skips this one, so this
      // ends after at most one try per replica.
      if (!this.forwardIfElsewhere(name, req, res, serveHere)) serveHere();
    });
    return true;
  }

  /** The same for an Upgrade request. */
  forwardUpgradeIfElsewhere(name: string, req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const tunnel = this.ctx?.registry.get(name);
    const replica = tunnel && tunnel.state !== 'stopped' ? this.router.pick(tunnel) : undefined;
    if (!replica) return false;
    this.forwarding.forwardBrowserUpgrade(replica, name, req, socket, head);
    return true;
  }

  /**
   * Sends a respond POST for request (or probe) `id` to the replica that made the id, when that
   * is another one; false when it is for this replica (or no live replica made it).
   */
  async forwardAnswerIfElsewhere(
    id: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    continueHere: () => void,
  ): Promise<boolean> {
    if (this.requestIds.isOwn(id)) return false;
    const replica = await this.directory.findByTag(replicaTagOf(id));
    if (!replica) return false;
    this.forwarding.forwardAnswer(replica, (req.url ?? '').split('?')[0], req, res, continueHere);
    return true;
  }

  /** The same for a group of answers, whose frame was read already (`frame`). */
  async forwardGroupIfElsewhere(
    responses: GroupedResponse[],
    frame: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    continueHere: () => void,
  ): Promise<boolean> {
    const first = responses[0];
    if (!first || this.requestIds.isOwn(first.id)) return false;
    const replica = await this.directory.findByTag(replicaTagOf(first.id));
    if (!replica) return false;
    this.forwarding.forwardAnswer(replica, (req.url ?? '').split('?')[0], req, res, continueHere, encodeFrame(frame));
    return true;
  }

  /** SIGTERM: the others stop sending work here, and the clients' polls go elsewhere. */
  async startDraining(): Promise<void> {
    await this.directory.markDraining();
    await this.presence.publishNow().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.lease.stop();
    this.health.stop();
    this.presence.stop();
    this.shared.stop();
    await this.shared.flush();
    await this.directory.stop();
    this.forwarding.close();
    const server = this.internalServer;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    this.redis.close();
  }
}

/** Without --advertise or $POD_IP: the bound address when it is a specific one, else the host name. */
function defaultAdvertisedHost(bindAddress: string): string {
  if (bindAddress !== '0.0.0.0' && bindAddress !== '::') return bindAddress.includes(':') ? `[${bindAddress}]` : bindAddress;
  return os.hostname();
}
