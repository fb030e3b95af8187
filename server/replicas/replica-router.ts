/**
 * Which replica serves a browser request that arrived here (docs/replicas.md "Routing"). The
 * request is parked on the replica whose poll will take it, so its whole life (queue, timeout,
 * answer) stays on one replica and the replica where it arrived only relays bytes:
 * 1. here, if this replica holds an idle poll of the tunnel;
 * 2. else a replica that holds one (the busiest tunnels keep polls on every replica);
 * 3. else here, if the client polled here in the last 2 s (the request waits for its next poll);
 * 4. else a replica the client is polling;
 * 5. else here, where admission answers tunnel_offline (or --fallback takes it).
 * A draining replica keeps nothing: it sends everything it can elsewhere.
 */

import { RECENT_POLL_MS, type Tunnel } from '../core/tunnel';
import type { PollPresence, RemotePresence } from './poll-presence';
import { isAdvertisedAddress, type ReplicaDirectory, type ReplicaInfo } from './replica-directory';

/** How long a replica that refused a connection is skipped. */
const UNREACHABLE_SKIP_MS = 5_000;

export class ReplicaRouter {
  /** Replica id -> until when it is skipped, ms since epoch. */
  private readonly unreachableUntil = new Map<string, number>();

  constructor(
    private readonly directory: ReplicaDirectory,
    private readonly presence: PollPresence,
  ) {}

  /** The replica to forward a request of `tunnel` to, or undefined to serve it here. */
  pick(tunnel: Tunnel): ReplicaInfo | undefined {
    const draining = this.directory.self.draining;
    const session = tunnel.session;
    if (!draining && session.idlePollCount > 0) return undefined;
    const elsewhere = this.presence
      .elsewhere(tunnel.name)
      .filter((presence) => this.isReachable(presence.replicaId) && this.hasUsableAddress(presence.replicaId));
    const withIdlePoll = elsewhere.filter((presence) => presence.idlePolls > 0);
    if (withIdlePoll.length > 0) return this.replica(pickOne(withIdlePoll));
    // Only a client seen polling here just now will soon poll here again; one heard from a while
    // ago may have moved all its polls to other replicas (the Service spreads connections).
    if (!draining && session.pollsHereWithin(RECENT_POLL_MS)) return undefined;
    const alive = elsewhere.filter((presence) => presence.alive);
    if (alive.length > 0) return this.replica(pickOne(alive));
    return undefined;
  }

  /** A connection to `replica` was refused: send it nothing for a while. */
  markUnreachable(replica: ReplicaInfo): void {
    this.unreachableUntil.set(replica.id, Date.now() + UNREACHABLE_SKIP_MS);
  }

  /** Garbage in Redis (a directory entry whose address is no host:port) must not draw requests. */
  private hasUsableAddress(replicaId: string): boolean {
    const replica = this.directory.byId(replicaId);
    return replica !== undefined && isAdvertisedAddress(replica.advertise);
  }

  private isReachable(replicaId: string): boolean {
    const until = this.unreachableUntil.get(replicaId);
    if (until === undefined) return true;
    if (until > Date.now()) return false;
    this.unreachableUntil.delete(replicaId);
    return true;
  }

  private replica(presence: RemotePresence): ReplicaInfo | undefined {
    return this.directory.byId(presence.replicaId);
  }
}

/** One at random, so that replicas spread the load rather than all choosing the first. */
function pickOne(candidates: RemotePresence[]): RemotePresence {
  return candidates[Math.floor(Math.random() * candidates.length)];
}
