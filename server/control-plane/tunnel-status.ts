/** The public JSON view of a tunnel for the status API, dashboard and `standin status` (shared/protocol/status-api.ts). */

import type { HealthCheckView, TunnelStatus } from '#shared/protocol/status-api';
import type { HealthCheck } from '../lifecycle/health-history';
import { publicUrlsFor } from '../selector/public-urls';
import type { ServerContext } from '../server-context';
import type { Tunnel } from '../core/tunnel';

/**
 * Describes `tunnel` with at most `historyLimit` of its newest health checks (no session id: that
 * is the client's secret). Owner and target only `withDetails` (identity/status-access.ts decides).
 * `requestHost` is the Host the reader used, for the default port link.
 */
export function describeTunnelStatus(
  ctx: ServerContext,
  tunnel: Tunnel,
  historyLimit = Infinity,
  withDetails = false,
  now = Date.now(),
  requestHost?: string,
): TunnelStatus {
  const history = ctx.health.historyOf(tunnel.name);
  // "Test now" checks count here, though they stay out of the scheduled history.
  const last = ctx.health.lastCheckOf(tunnel.name);
  return {
    name: tunnel.name,
    port: tunnel.port,
    urls: publicUrlsFor(ctx.config.publicUrls, tunnel.name, tunnel.port, requestHost),
    state: tunnel.state,
    stopReason: tunnel.stopReason ?? null,
    online: tunnel.isOnline,
    createdAt: iso(tunnel.createdAt),
    expiresAt: iso(tunnel.expiresAt),
    lastSeenAt: iso(tunnel.lastPollAt),
    client: {
      version: tunnel.version ?? null,
      owner: withDetails ? (tunnel.owner ?? null) : null,
      target: withDetails ? tunnel.target : null,
    },
    private: tunnel.privateAccessKey !== null,
    counters: { ...tunnel.counters, queued: tunnel.session.queuedCount, openUpgrades: tunnel.upgrades.size },
    health: {
      status: ctx.health.statusOf(tunnel, now),
      lastCheckedAt: last ? iso(last.at) : null,
      lastHealthyAt: history.lastHealthyAt === null ? null : iso(history.lastHealthyAt),
      latencyMs: last?.latencyMs ?? null,
      uptimePct: history.uptimePct(now),
      history: history.checks(now, historyLimit).map(viewOfCheck),
      incidents: history.incidents(now).map((incident) => ({
        startedAt: iso(incident.startedAt),
        endedAt: incident.endedAt === null ? null : iso(incident.endedAt),
        cause: incident.cause,
      })),
    },
  };
}

/** A health check as the API shows it. */
export function viewOfCheck(check: HealthCheck): HealthCheckView {
  return { at: iso(check.at), ok: check.ok, latencyMs: check.latencyMs, ...(check.error ? { error: check.error } : {}) };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
