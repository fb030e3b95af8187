/**
 * What the rest of the server asks of replica mode (`--redis`, server/replicas/): an interface,
 * so the data path and the routes depend on these few questions rather than on Redis and the
 * pod-to-pod hops. ServerContext.replicas is null for a single server, and every call site reads
 * `ctx.replicas?.…`, so the single-process path is unchanged.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GroupedResponse } from '#shared/protocol/messages';
import type { RecentRequest, RecentRequestFacts } from '../observability/recent-requests';
import type { ReplicaView, Tunnel } from '../core/tunnel';

/** One replica in the status API. */
export interface ReplicaSummary {
  id: string;
  startedAt: string;
  draining: boolean;
  /** The replica answering this call. */
  self: boolean;
}

export interface Replication {
  /** Whether Redis answers (readiness, and whether tunnels count as online). */
  readonly ready: boolean;
  /** What tunnels ask about the other replicas (Tunnel.replicas). */
  readonly view: ReplicaView;
  /** Whether this replica does the cluster-wide chores (health checks, forgetting): it holds the lease. */
  readonly runsClusterChores: boolean;
  /** Pod-to-pod hops under way (a draining replica waits for them). */
  readonly hopsInFlight: number;
  /** Passes a browser request to the replica whose poll will take it; false: serve it here. `serveHere` takes it back if that replica is unreachable. */
  forwardIfElsewhere(name: string, req: IncomingMessage, res: ServerResponse, serveHere: () => void): boolean;
  /** The same for an Upgrade request. */
  forwardUpgradeIfElsewhere(name: string, req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Passes a respond POST to the replica holding request `id`; false: it is this replica's. */
  forwardAnswerIfElsewhere(id: string, req: IncomingMessage, res: ServerResponse, continueHere: () => void): Promise<boolean>;
  /** The same for a group of answers whose frame (`frame`) was read already. */
  forwardGroupIfElsewhere(
    responses: GroupedResponse[],
    frame: string,
    req: IncomingMessage,
    res: ServerResponse,
    continueHere: () => void,
  ): Promise<boolean>;
  /** Runs a registration under the cluster-wide lock, on fresh copies of what it decides on. */
  whileRegistering<T>(name: string, register: () => Promise<T>): Promise<T>;
  /**
   * Stores a tunnel's new session and tells the others; true once Redis took it, so the client
   * learns of a session only when every replica can read it.
   */
  saveSession(tunnel: Tunnel): Promise<boolean>;
  /** Stores a tunnel's stop, its first poll, or that it is forgotten, and tells the others. */
  saveStop(tunnel: Tunnel): void;
  savePolled(tunnel: Tunnel): void;
  saveForgotten(name: string): void;
  /**
   * Reads tunnel `name` from Redis again now: a client's call can reach this replica before the
   * news of the registration another replica just answered. Throws when Redis cannot be reached.
   */
  refreshTunnel(name: string): Promise<void>;
  /** Keeps a finished request for the tunnel's recent requests, which any replica lists. */
  saveRecentRequest(name: string, facts: RecentRequestFacts): void;
  /** The tunnel's recent requests from every replica, newest first. */
  recentRequests(name: string): Promise<RecentRequest[]>;
  /** The replicas alive now, for the status API and the dashboard. */
  replicaList(): ReplicaSummary[];
  /** SIGTERM: stop taking work from the others. */
  startDraining(): Promise<void>;
}
