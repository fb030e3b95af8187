/**
 * The status API under /_standin/api/ (docs/design.md "Control plane"): what the server answers and
 * what `standin status` and the dashboard read. Reading is open; stopping a tunnel needs the
 * admin token (`Authorization: Bearer <admin token>`).
 *
 * - GET    /_standin/api/tunnels               → TunnelStatus[] (history: the newest LIST_HISTORY_LENGTH checks)
 * - GET    /_standin/api/tunnels/<name>        → TunnelStatus   (history: every check of the last 24 h)
 * - POST   /_standin/api/tunnels/<name>/check  → CheckResult    (runs one health check now)
 * - DELETE /_standin/api/tunnels/<name>        → 200 TunnelStatus of the stopped tunnel (admin)
 */

import type { PublicUrls } from './messages';

/** Paths of the status API. */
export const STATUS_PATHS = {
  dashboard: '/_standin/',
  tunnels: '/_standin/api/tunnels',
  /** Replica mode: the replicas alive now (an empty list from a single server). */
  replicas: '/_standin/api/replicas',
  tunnel: (name: string) => `/_standin/api/tunnels/${encodeURIComponent(name)}`,
  check: (name: string) => `/_standin/api/tunnels/${encodeURIComponent(name)}/check`,
  metrics: '/_standin/metrics',
} as const;

/** Checks per tunnel in the list answer (enough for a sparkline); the single-tunnel answer has all. */
export const LIST_HISTORY_LENGTH = 60;

/**
 * Lifecycle state of a tunnel as the status API may report it (docs/design.md "Tunnel lifecycle
 * and health"). The user-facing contract names `stopping` and `error` too, so readers of this API
 * (`standin status`, scripts) must accept them; this server reports only `pending`, `active` and
 * `stopped` (its stop cascade runs in one tick, and a failing tunnel shows in its health).
 */
export type TunnelStateName = 'pending' | 'active' | 'stopping' | 'stopped' | 'error';

/**
 * Health of a tunnel: `healthy` (last check passed, under 2 intervals old), `degraded` (last check
 * failed), `down` (3 or more failed in a row, or no client), `unknown` (never checked, or stale).
 */
export type HealthStatus = 'healthy' | 'degraded' | 'down' | 'unknown';

/** One health check as the API shows it. */
export interface HealthCheckView {
  at: string;
  ok: boolean;
  latencyMs: number | null;
  error?: string;
}

/** One incident: a stretch of failed checks. */
export interface IncidentView {
  startedAt: string;
  endedAt: string | null;
  cause: string;
}

/** A tunnel as the status API shows it. */
export interface TunnelStatus {
  name: string;
  port: number | null;
  /** Links that reach the tunnel from a browser (the same the client prints). */
  urls: PublicUrls;
  state: TunnelStateName;
  /** Why it stopped (`expired`, `stopped` by an admin, `released`), when it did. */
  stopReason: string | null;
  online: boolean;
  createdAt: string;
  expiresAt: string;
  lastSeenAt: string;
  /** Owner and target are null for a reader not entitled to them (see --status-access). */
  client: { version: string | null; owner: string | null; target: string | null };
  /** Serves only browsers that opened its access link (`connect --private`). */
  private: boolean;
  /** upgrades: accepted since the tunnel started; openUpgrades: upgraded connections (WebSockets) open now. */
  counters: {
    requests: number;
    errors: number;
    bytesIn: number;
    bytesOut: number;
    inFlight: number;
    queued: number;
    upgrades: number;
    openUpgrades: number;
  };
  health: {
    status: HealthStatus;
    lastCheckedAt: string | null;
    lastHealthyAt: string | null;
    latencyMs: number | null;
    uptimePct: number | null;
    history: HealthCheckView[];
    incidents: IncidentView[];
  };
}

/** The answer of POST .../check: the check that just ran and the health it leads to. */
export interface CheckResult {
  name: string;
  check: HealthCheckView;
  status: HealthStatus;
}
