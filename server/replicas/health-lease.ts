/**
 * One replica at a time runs the scheduled health checks: the holder of a Redis lease, renewed
 * every LEASE_RENEW_MS and lost LEASE_TTL_MS after its holder stops renewing it (killed, or cut
 * off from Redis), when another replica takes it. The lease holder also does the cluster-wide
 * clean-up of the sweeper (forgetting tunnels and unused name claims).
 */

import type { Logger } from '#shared/logger';
import type { RedisConnection } from './redis-connection';

const LEASE_KEY = 'standin:lease:health';
const LEASE_TTL_MS = 5_000;
const LEASE_RENEW_MS = 1_500;

/**
 * Renews the lease if this replica holds it; takes it if nobody does. A lease without an expiry
 * was not written by a replica (they always set one) and would otherwise stop health checks for
 * good, so it counts as free.
 */
const RENEW_OR_TAKE = `
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] or not holder or redis.call('pttl', KEYS[1]) == -1 then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

export class HealthLease {
  private heldUntil = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly replicaId: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.renew();
    this.timer = setInterval(() => void this.renew(), LEASE_RENEW_MS);
    this.timer.unref();
  }

  /** Whether this replica holds the lease now (with a margin, so two never both think so). */
  get held(): boolean {
    return Date.now() < this.heldUntil;
  }

  stop(): void {
    clearInterval(this.timer);
    if (!this.held) return;
    this.heldUntil = 0;
    // Give it up at once, so another replica takes over without waiting for it to expire.
    void this.redis
      .run((client) =>
        client.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", {
          keys: [LEASE_KEY],
          arguments: [this.replicaId],
        }),
      )
      .catch(() => undefined);
  }

  private async renew(): Promise<void> {
    const askedAt = Date.now();
    try {
      const won = await this.redis.run((client) =>
        client.eval(RENEW_OR_TAKE, { keys: [LEASE_KEY], arguments: [this.replicaId, String(LEASE_TTL_MS)] }),
      );
      const wasHeld = this.held;
      // Counted from before the call, minus a margin for clock drift between replicas.
      this.heldUntil = won === 1 ? askedAt + LEASE_TTL_MS - 1_000 : 0;
      if (this.held && !wasHeld) this.logger.info('this replica runs the health checks now');
    } catch {
      // Unreachable Redis: the lease runs out by itself.
    }
  }
}
