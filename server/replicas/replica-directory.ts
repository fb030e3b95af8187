/**
 * The replicas alive now. Each replica writes its own entry (how to reach it, its request id tag,
 * whether it drains) with a short expiry and renews it every HEARTBEAT_INTERVAL_MS; a replica
 * that stops renewing (SIGKILL, a dead node) drops out within REPLICA_ENTRY_TTL_MS, and the
 * others stop sending it work. The list is read back on every heartbeat and kept in memory, so
 * routing never waits for Redis.
 */

import type { Logger } from '#shared/logger';
import type { RedisConnection } from './redis-connection';

export const HEARTBEAT_INTERVAL_MS = 1_000;

/** A replica missing this many heartbeats in a row counts as gone. */
export const REPLICA_ENTRY_TTL_MS = 3_500;

/**
 * How long a lookup waits for an unknown replica tag to appear: after a Redis outage a live
 * replica reconnects within a second and writes its entry within a heartbeat of that.
 */
const UNKNOWN_TAG_WAIT_MS = 2 * HEARTBEAT_INTERVAL_MS + 500;
const UNKNOWN_TAG_REREAD_MS = 100;

const REPLICAS_KEY = 'standin:replicas';
const replicaKey = (id: string) => `standin:replica:${id}`;

/** One replica as the others see it. */
export interface ReplicaInfo {
  id: string;
  /** The first 8 hex digits of the request ids it makes. */
  tag: string;
  /** host:port of its internal listener. */
  advertise: string;
  startedAt: number;
  /** Set from SIGTERM on: it takes no new work from the others. */
  draining: boolean;
}

export class ReplicaDirectory {
  private replicas: ReplicaInfo[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** A re-read of the directory under way (concurrent lookups share it). */
  private rereading: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisConnection,
    readonly self: ReplicaInfo,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), HEARTBEAT_INTERVAL_MS);
    this.timer.unref();
  }

  /** The other replicas alive now (not this one). */
  others(): ReplicaInfo[] {
    return this.replicas.filter((replica) => replica.id !== this.self.id);
  }

  /** Every replica alive now, this one included (the dashboard lists them). */
  all(): ReplicaInfo[] {
    return this.replicas.some((replica) => replica.id === this.self.id) ? [...this.replicas] : [this.self, ...this.replicas];
  }

  /** The live replica whose request ids carry `tag`. */
  byTag(tag: string): ReplicaInfo | undefined {
    return this.replicas.find((replica) => replica.tag === tag && replica.id !== this.self.id);
  }

  /**
   * The same, reading the directory again while the tag is unknown, for up to UNKNOWN_TAG_WAIT_MS:
   * a replica that started a moment ago already parks requests, and their answers may land here
   * before the next heartbeat; after a Redis outage every entry has expired, and each replica
   * writes its own again within a heartbeat. Undefined only for a replica that is gone.
   */
  async findByTag(tag: string): Promise<ReplicaInfo | undefined> {
    const known = this.byTag(tag);
    if (known) return known;
    const deadline = Date.now() + UNKNOWN_TAG_WAIT_MS;
    for (;;) {
      // Lookups share one read at a time; one under way may have started before that replica
      // wrote its entry, which the next round reads.
      this.rereading ??= this.read().finally(() => (this.rereading = undefined));
      await this.rereading;
      const found = this.byTag(tag);
      if (found || Date.now() >= deadline) return found;
      await new Promise((resolve) => setTimeout(resolve, UNKNOWN_TAG_REREAD_MS));
    }
  }

  byId(id: string): ReplicaInfo | undefined {
    return this.replicas.find((replica) => replica.id === id);
  }

  /** SIGTERM: tell the others at once that this replica takes no more work. */
  async markDraining(): Promise<void> {
    this.self.draining = true;
    await this.heartbeat();
  }

  /** Leaves the directory (clean shutdown), so nobody waits for the entry to expire. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis
      .run((client) => Promise.all([client.del(replicaKey(this.self.id)), client.sRem(REPLICAS_KEY, this.self.id)]))
      .catch(() => undefined);
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.redis.run(async (client) => {
        await client.set(replicaKey(this.self.id), JSON.stringify(this.self), { PX: REPLICA_ENTRY_TTL_MS });
        await client.sAdd(REPLICAS_KEY, this.self.id);
      });
      await this.read();
    } catch (error) {
      // Keep the last list: the others are most likely still there, and Redis is what is gone.
      this.logger.debug('replica heartbeat failed', { error: (error as Error).message });
    }
  }

  /** Reads the list of live replicas (dropping the entries that expired). */
  private async read(): Promise<void> {
    try {
      await this.redis.run(async (client) => {
        const ids = await client.sMembers(REPLICAS_KEY);
        const entries = ids.length === 0 ? [] : await client.mGet(ids.map(replicaKey));
        const alive: ReplicaInfo[] = [];
        const gone: string[] = [];
        entries.forEach((entry, index) => {
          const replica = entry === null ? undefined : parseReplica(entry);
          if (replica) alive.push(replica);
          else gone.push(ids[index]);
        });
        if (gone.length > 0) await client.sRem(REPLICAS_KEY, gone);
        this.replicas = alive;
      });
    } catch (error) {
      // Keep the last list: the others are most likely still there, and Redis is what is gone.
      this.logger.debug('reading the replica directory failed', { error: (error as Error).message });
    }
  }
}

/**
 * Whether `text` is host:port or [ipv6]:port, as --advertise takes it (or a host name, which may
 * hold `_`): an entry in Redis with anything else names no replica one could reach.
 */
export function isAdvertisedAddress(text: string): boolean {
  const match = /^(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(\d{1,5})$/.exec(text);
  return match !== null && Number(match[1]) >= 1 && Number(match[1]) <= 65_535;
}

function parseReplica(text: string): ReplicaInfo | undefined {
  try {
    const value = JSON.parse(text) as Partial<ReplicaInfo>;
    if (typeof value.id !== 'string' || typeof value.tag !== 'string' || typeof value.advertise !== 'string') return undefined;
    return {
      id: value.id,
      tag: value.tag,
      advertise: value.advertise,
      startedAt: Number(value.startedAt) || 0,
      draining: value.draining === true,
    };
  } catch {
    return undefined;
  }
}
