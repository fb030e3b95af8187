/**
 * Where each tunnel's client is polling. Every PRESENCE_INTERVAL_MS a replica publishes, for the
 * tunnels whose client polls it, how many polls it holds idle and whether that client is alive
 * there (SessionLiveness), and reads what the others published. Routing uses it to send a browser
 * request to a replica that has an idle poll for it (replica-router.ts), and a tunnel counts as
 * online when its client polls any replica. Entries expire, so a killed replica's presence is
 * gone within PRESENCE_TTL_MS.
 */

import type { Logger } from '#shared/logger';
import type { ReplicaView } from '../core/tunnel';
import type { TunnelRegistry } from '../core/tunnel-registry';
import type { RedisConnection } from './redis-connection';
import type { ReplicaDirectory } from './replica-directory';

export const PRESENCE_INTERVAL_MS = 200;
const PRESENCE_TTL_MS = 3_000;

const presenceKey = (replicaId: string) => `standin:presence:${replicaId}`;

/** One tunnel's client as seen by one replica: [idle polls held, alive]. */
type Presence = [idlePolls: number, alive: boolean];

/** A tunnel's presence on another replica. */
export interface RemotePresence {
  replicaId: string;
  idlePolls: number;
  alive: boolean;
}

export class PollPresence implements ReplicaView {
  /** Replica id -> tunnel name -> presence, as last read. */
  private remote = new Map<string, Record<string, Presence>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly directory: ReplicaDirectory,
    private readonly registry: TunnelRegistry,
    private readonly logger: Logger,
  ) {}

  /** Reads the others' presence once (a replica must know where clients poll before it serves), then every PRESENCE_INTERVAL_MS. */
  async start(): Promise<void> {
    await this.exchange();
    this.timer = setInterval(() => void this.exchange(), PRESENCE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The other replicas the client of `name` polls (alive and not draining ones only). */
  elsewhere(name: string): RemotePresence[] {
    const found: RemotePresence[] = [];
    for (const replica of this.directory.others()) {
      if (replica.draining) continue;
      const presence = this.remote.get(replica.id)?.[name];
      if (presence && (presence[0] > 0 || presence[1])) found.push({ replicaId: replica.id, idlePolls: presence[0], alive: presence[1] });
    }
    return found;
  }

  /** Whether the client of `name` polls some other replica. */
  pollsElsewhere(name: string): boolean {
    return this.elsewhere(name).length > 0;
  }

  get sharedStateReachable(): boolean {
    return this.redis.reachable;
  }

  get pollsKnown(): boolean {
    return this.redis.othersAnnounced;
  }

  /** Publishes this replica's presence at once (a draining replica drops out this way). */
  async publishNow(): Promise<void> {
    await this.publish();
  }

  private async exchange(): Promise<void> {
    try {
      await this.publish();
      const others = this.directory.others();
      const entries =
        others.length === 0 ? [] : await this.redis.run((client) => client.mGet(others.map((replica) => presenceKey(replica.id))));
      const remote = new Map<string, Record<string, Presence>>();
      entries.forEach((entry, index) => {
        if (entry !== null) remote.set(others[index].id, parsePresence(entry));
      });
      this.remote = remote;
    } catch (error) {
      this.logger.debug('poll presence exchange failed', { error: (error as Error).message });
    }
  }

  private async publish(): Promise<void> {
    const own: Record<string, Presence> = {};
    if (!this.directory.self.draining) {
      for (const tunnel of this.registry.list()) {
        const session = tunnel.session;
        if (tunnel.state === 'stopped' || session.endReason) continue;
        const idle = session.idlePollCount;
        const alive = session.isAlive;
        if (idle > 0 || alive) own[tunnel.name] = [idle, alive];
      }
    }
    await this.redis.run((client) => client.set(presenceKey(this.directory.self.id), JSON.stringify(own), { PX: PRESENCE_TTL_MS }));
  }
}

function parsePresence(text: string): Record<string, Presence> {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' ? (value as Record<string, Presence>) : {};
  } catch {
    return {};
  }
}
