/**
 * Health checks in replica mode: the holder of the health lease runs the scheduled checks; a probe
 * goes down a poll of the replica that holds one idle (asked over the internal port), and each
 * check is stored in Redis, where every replica reads the histories back as often as checks run
 * (at most every 5 s, at least every HISTORY_RELOAD_INTERVAL_MS) and at start, so a restart of every replica keeps them
 * and a dashboard behind a load balancer shows the same history whichever replica answers.
 */

import type { Logger } from '#shared/logger';
import { parseHealthCheck, type HealthCheck } from '../lifecycle/health-history';
import { PROBE_TIMEOUT_MS, type HealthMonitor, type SharedHealth } from '../lifecycle/health-monitor';
import type { Tunnel } from '../core/tunnel';
import type { TunnelRegistry } from '../core/tunnel-registry';
import type { HealthLease } from './health-lease';
import type { PollPresence } from './poll-presence';
import type { RedisConnection } from './redis-connection';
import type { ReplicaDirectory } from './replica-directory';
import type { ReplicaForwarding } from './replica-forwarding';

const historyKey = (name: string) => `standin:health:${name}`;
export const HISTORY_RELOAD_INTERVAL_MS = 15_000;
/** Reading every history back costs one LRANGE of up to a day of checks per tunnel, so not more often than this. */
const HISTORY_RELOAD_MIN_INTERVAL_MS = 5_000;

export class ReplicaHealth implements SharedHealth {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly lease: HealthLease,
    private readonly presence: PollPresence,
    private readonly directory: ReplicaDirectory,
    private readonly forwarding: ReplicaForwarding,
    private readonly logger: Logger,
  ) {}

  /** Loads the stored histories now and then once per health interval, kept between 5 s and HISTORY_RELOAD_INTERVAL_MS. */
  async start(health: HealthMonitor, registry: TunnelRegistry): Promise<void> {
    health.shared = this;
    const reload = () =>
      this.loadHistories(health, registry).catch((error: Error) =>
        this.logger.debug('could not load health histories', { error: error.message }),
      );
    await reload();
    this.timer = setInterval(
      () => {
        // The lease holder's own histories are the freshest there are.
        if (!this.lease.held) void reload();
      },
      Math.min(Math.max(health.intervalMs, HISTORY_RELOAD_MIN_INTERVAL_MS), HISTORY_RELOAD_INTERVAL_MS),
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  runsScheduledChecks(): boolean {
    return this.lease.held;
  }

  probeElsewhere(tunnel: Tunnel): Promise<HealthCheck> | undefined {
    if (tunnel.session.idlePollCount > 0) return undefined;
    const holder = this.presence.elsewhere(tunnel.name).find((presence) => presence.idlePolls > 0);
    const replica = holder && this.directory.byId(holder.replicaId);
    if (!replica) return undefined;
    return this.forwarding.probeOn(replica, tunnel.name, PROBE_TIMEOUT_MS + 1_000);
  }

  saveCheck(name: string, check: HealthCheck, capacity: number): void {
    void this.redis
      .run((client) => client.multi().rPush(historyKey(name), JSON.stringify(check)).lTrim(historyKey(name), -capacity, -1).exec())
      .catch((error: Error) => this.logger.debug('could not store a health check', { tunnel: name, error: error.message }));
  }

  private async loadHistories(health: HealthMonitor, registry: TunnelRegistry): Promise<void> {
    const names = registry.list().map((tunnel) => tunnel.name);
    const lists = await this.redis.run((client) => Promise.all(names.map((name) => client.lRange(historyKey(name), 0, -1))));
    names.forEach((name, index) => {
      const checks = lists[index].map(parseHealthCheck).filter((check): check is HealthCheck => check !== undefined);
      if (checks.length > 0) health.loadHistory(name, checks);
    });
  }
}
