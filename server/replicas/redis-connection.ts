/**
 * The replica's connections to Redis: one for commands, one for the event subscription (a
 * subscribed connection can do nothing else). Every command has a timeout and none waits in an
 * offline queue, so a Redis outage makes calls fail fast instead of piling up; the client
 * reconnects by itself. `reachable` turns false when no command has succeeded for
 * REDIS_UNREACHABLE_AFTER_MS (readiness and routing read it; docs/replicas.md "Redis outage"),
 * and `othersAnnounced` says when, after a gap, the other replicas' entries are back.
 */

import { createClient } from 'redis';
import type { Logger } from '#shared/logger';

/** Longest wait for one Redis command. */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;

/** After this long without a successful command, Redis counts as unreachable. */
export const REDIS_UNREACHABLE_AFTER_MS = 5_000;

/** Longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 1_000;

/**
 * A gap this long without a successful command may have let the entries every replica renews
 * expire in Redis (directory 3.5 s, poll presence 3 s after their last write).
 */
const ENTRIES_MAY_EXPIRE_AFTER_MS = 2_500;

/**
 * How long after such a gap the replicas take to announce themselves again: each reconnects
 * within MAX_RECONNECT_DELAY_MS, writes its entries within a heartbeat (1 s), and reads the
 * others' on its next one.
 */
const REANNOUNCE_MS = 3_000;

export type RedisClient = ReturnType<typeof createRedisClient>;

function createRedisClient(url: string) {
  return createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS },
    socket: {
      connectTimeout: REDIS_COMMAND_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS),
    },
  });
}

export class RedisConnection {
  readonly commands: RedisClient;
  readonly subscriber: RedisClient;
  private lastSuccessAt = Date.now();
  private wasReachable = true;
  /** Until when the replicas are announcing themselves again after a gap, ms since epoch. */
  private reannouncingUntil = 0;

  constructor(
    url: string,
    private readonly logger: Logger,
  ) {
    this.commands = createRedisClient(url);
    this.subscriber = createRedisClient(url);
    // node-redis emits 'error' on every failed connection attempt; unheard, it would end the process.
    for (const client of [this.commands, this.subscriber])
      client.on('error', (error: Error) => this.logger.debug('redis connection error', { error: error.message }));
    this.commands.on('ready', () => this.logger.info('connected to redis'));
  }

  /** Starts connecting; resolves once connected or after `waitMs` (the replica starts either way and heals later). */
  async start(waitMs = 3_000): Promise<void> {
    const connecting = Promise.all([this.commands.connect(), this.subscriber.connect()]).then(() => this.noteSuccess());
    connecting.catch((error: Error) => this.logger.warn('redis not reachable yet; retrying', { error: error.message }));
    await Promise.race([connecting.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
  }

  /** Runs `call` on the command connection, noting whether Redis answered. */
  async run<T>(call: (client: RedisClient) => Promise<T>): Promise<T> {
    try {
      const result = await call(this.commands);
      this.noteSuccess();
      return result;
    } catch (error) {
      this.noteFailure(error as Error);
      throw error;
    }
  }

  /** Whether Redis answered within the last REDIS_UNREACHABLE_AFTER_MS. */
  get reachable(): boolean {
    return Date.now() - this.lastSuccessAt < REDIS_UNREACHABLE_AFTER_MS;
  }

  /**
   * Whether the replicas' entries in Redis (directory, poll presence) are complete: false for
   * REANNOUNCE_MS after Redis answered again following a gap long enough for them to expire.
   */
  get othersAnnounced(): boolean {
    return Date.now() >= this.reannouncingUntil;
  }

  close(): void {
    for (const client of [this.commands, this.subscriber]) {
      try {
        client.destroy();
      } catch {
        // Already closed.
      }
    }
  }

  private noteSuccess(): void {
    const now = Date.now();
    if (now - this.lastSuccessAt > ENTRIES_MAY_EXPIRE_AFTER_MS) this.reannouncingUntil = now + REANNOUNCE_MS;
    this.lastSuccessAt = now;
    if (!this.wasReachable) this.logger.info('redis reachable again');
    this.wasReachable = true;
  }

  private noteFailure(error: Error): void {
    if (this.wasReachable && !this.reachable) {
      this.wasReachable = false;
      this.logger.error('redis unreachable: tunnels are offline on this replica until it returns', { error: error.message });
    }
  }
}
