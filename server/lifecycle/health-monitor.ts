/**
 * Health checks (docs/design.md "Tunnel lifecycle and health"): every --health-interval, in parallel,
 * each tunnel that is not stopped gets a probe through its client, which checks that the local
 * app accepts connections and answers under the probe's id. One check per tunnel runs at a time;
 * a "Test now" during a running check gets that check's result.
 */

import { performance } from 'node:perf_hooks';
import type { Logger } from '#shared/logger';
import type { ProbeResultMeta } from '#shared/protocol/messages';
import type { HealthStatus } from '#shared/protocol/status-api';
import { HealthHistory, historyCapacityFor, type HealthCheck } from './health-history';
import type { RequestIds } from '../core/request-ids';
import type { Tunnel } from '../core/tunnel';
import type { TunnelRegistry } from '../core/tunnel-registry';

/** How long the server waits for a probe's answer before the check counts as failed. */
export const PROBE_TIMEOUT_MS = 10_000;

/**
 * "Test now" runs at most one new probe per tunnel this often; calls in between are refused
 * (429), so a flood of clicks or scripted calls costs nothing and records nothing.
 */
export const MANUAL_CHECK_INTERVAL_MS = 5_000;

/**
 * Manual checks kept per tunnel, apart from the scheduled history: they count for the current
 * health but never push scheduled checks out of the 24 h history, nor skew uptime.
 */
const MANUAL_HISTORY_ENTRIES = 16;

/** Failed checks in a row from which a tunnel is `down` rather than `degraded`. */
const DOWN_AFTER_FAILURES = 3;

interface PendingProbe {
  tunnel: string;
  sessionId: string;
  settle: (result: ProbeResultMeta | string) => void;
}

/** What replica mode changes about health checks (server/replicas/replica-health.ts). */
export interface SharedHealth {
  /** Whether this replica runs the scheduled checks now (it holds the lease). */
  runsScheduledChecks(): boolean;
  /** Runs the probe on the replica holding an idle poll of the tunnel; undefined: probe here. */
  probeElsewhere(tunnel: Tunnel): Promise<HealthCheck> | undefined;
  /** Stores a scheduled check for the other replicas. */
  saveCheck(name: string, check: HealthCheck, capacity: number): void;
}

export class HealthMonitor {
  private readonly histories = new Map<string, HealthHistory>();
  private readonly manualHistories = new Map<string, HealthHistory>();
  /** When "Test now" last started a probe, per tunnel, ms since epoch. */
  private readonly lastManualAt = new Map<string, number>();
  private readonly pending = new Map<string, PendingProbe>();
  private readonly running = new Map<string, Promise<HealthCheck>>();
  private timer: NodeJS.Timeout | undefined;
  /** Told of every finished check (metrics). */
  private readonly checkListeners: ((check: HealthCheck) => void)[] = [];

  constructor(
    private readonly registry: TunnelRegistry,
    readonly intervalMs: number,
    private readonly logger: Logger,
    /** Makes probe ids (in replica mode they name this replica, so the answer finds its way here). */
    private readonly probeIds: RequestIds,
  ) {}

  /** Calls `listener` with every check that finishes from now on, scheduled or "Test now". */
  onCheck(listener: (check: HealthCheck) => void): void {
    this.checkListeners.push(listener);
  }

  /** Replica mode; null for a single server. */
  shared: SharedHealth | null = null;

  /** Starts the periodic checks; the timer does not keep the process alive. */
  start(): void {
    this.timer ??= setInterval(() => this.checkAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const probe of this.pending.values()) probe.settle('the server is stopping');
  }

  /** Checks every tunnel that is not stopped, in parallel. */
  checkAll(): void {
    if (this.shared && !this.shared.runsScheduledChecks()) return;
    for (const tunnel of this.registry.list()) {
      if (tunnel.state !== 'stopped') void this.check(tunnel);
    }
  }

  /** Runs one check of `tunnel` now (or joins the one running) and records it. */
  check(tunnel: Tunnel): Promise<HealthCheck> {
    let running = this.running.get(tunnel.name);
    if (!running) {
      running = this.probe(tunnel).then((check) => {
        this.running.delete(tunnel.name);
        const history = this.historyOf(tunnel.name);
        history.record(check);
        this.shared?.saveCheck(tunnel.name, check, history.capacity);
        for (const listener of this.checkListeners) listener(check);
        if (!check.ok) this.logger.debug('health check failed', { tunnel: tunnel.name, error: check.error });
        return check;
      });
      this.running.set(tunnel.name, running);
    }
    return running;
  }

  /**
   * "Test now": joins the check running for `tunnel`, or starts one recorded apart from the
   * scheduled history; at most one new probe per MANUAL_CHECK_INTERVAL_MS, else how long to wait.
   */
  checkNow(tunnel: Tunnel, now = Date.now()): Promise<HealthCheck> | { retryAfterMs: number } {
    const running = this.running.get(tunnel.name);
    if (running) return running;
    const since = now - (this.lastManualAt.get(tunnel.name) ?? -Infinity);
    if (since < MANUAL_CHECK_INTERVAL_MS) return { retryAfterMs: MANUAL_CHECK_INTERVAL_MS - since };
    this.lastManualAt.set(tunnel.name, now);
    const manual = this.probe(tunnel).then((check) => {
      this.running.delete(tunnel.name);
      this.manualHistoryOf(tunnel.name).record(check);
      for (const listener of this.checkListeners) listener(check);
      return check;
    });
    this.running.set(tunnel.name, manual);
    return manual;
  }

  /** The newest check of tunnel `name`, scheduled or manual. */
  lastCheckOf(name: string): HealthCheck | undefined {
    const scheduled = this.historyOf(name).last;
    const manual = this.manualHistories.get(name)?.last;
    if (!manual) return scheduled;
    return !scheduled || manual.at > scheduled.at ? manual : scheduled;
  }

  /** Whether `id` is a probe waiting for its answer (the respond route asks before "unknown request"). */
  isPendingProbe(id: string): boolean {
    return this.pending.has(id);
  }

  /**
   * Takes a client's answer to probe `id`; false when no such probe waits for this tunnel and
   * session (it timed out, or another session answers).
   */
  settleProbe(tunnel: string, id: string, sessionId: string | string[] | undefined, result: ProbeResultMeta): boolean {
    const probe = this.pending.get(id);
    if (!probe || probe.tunnel !== tunnel || probe.sessionId !== sessionId) return false;
    probe.settle(result);
    return true;
  }

  /** Drops everything known about tunnel `name`'s health (the tunnel was forgotten). */
  forget(name: string): void {
    this.histories.delete(name);
  }

  /** Replaces the history of tunnel `name` with `checks`, oldest first (replica mode: the lease holder's checks). */
  loadHistory(name: string, checks: readonly HealthCheck[]): void {
    const history = new HealthHistory(historyCapacityFor(this.intervalMs));
    for (const check of checks) history.record(check);
    this.histories.set(name, history);
  }

  /** The history of tunnel `name` (created empty on first use). */
  historyOf(name: string): HealthHistory {
    let history = this.histories.get(name);
    if (!history) {
      history = new HealthHistory(historyCapacityFor(this.intervalMs));
      this.histories.set(name, history);
    }
    return history;
  }

  private manualHistoryOf(name: string): HealthHistory {
    let history = this.manualHistories.get(name);
    if (!history) {
      history = new HealthHistory(MANUAL_HISTORY_ENTRIES);
      this.manualHistories.set(name, history);
    }
    return history;
  }

  /** Health as docs/design.md "Tunnel lifecycle and health" defines it. */
  statusOf(tunnel: Tunnel, now = Date.now()): HealthStatus {
    if (!tunnel.isOnline) return 'down';
    const history = this.historyOf(tunnel.name);
    const last = this.lastCheckOf(tunnel.name);
    if (!last || now - last.at > 2 * this.intervalMs) return 'unknown';
    if (last.ok) return 'healthy';
    return history.consecutiveFailures >= DOWN_AFTER_FAILURES ? 'down' : 'degraded';
  }

  private probe(tunnel: Tunnel): Promise<HealthCheck> {
    return this.shared?.probeElsewhere(tunnel) ?? this.probeHere(tunnel);
  }

  /** Sends a probe down a poll of `tunnel`'s session on this server and waits for its answer. */
  probeHere(tunnel: Tunnel): Promise<HealthCheck> {
    if (!tunnel.isOnline) return Promise.resolve({ at: Date.now(), ok: false, latencyMs: null, error: 'no standin client is connected' });
    const id = this.probeIds.next();
    const session = tunnel.session;
    return new Promise<HealthCheck>((resolve) => {
      const sentAt = performance.now();
      const timer = setTimeout(
        () => settle(`the standin client did not answer the probe within ${PROBE_TIMEOUT_MS / 1000} s`),
        PROBE_TIMEOUT_MS,
      );
      timer.unref();
      const settle = (result: ProbeResultMeta | string) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        resolve(toCheck(result, performance.now() - sentAt));
      };
      this.pending.set(id, { tunnel: tunnel.name, sessionId: session.id, settle });
      if (!session.offerProbe({ kind: 'probe', id })) settle('the standin client is not taking polls');
    });
  }
}

function toCheck(result: ProbeResultMeta | string, roundTripMs: number): HealthCheck {
  const at = Date.now();
  if (typeof result === 'string') return { at, ok: false, latencyMs: null, error: result };
  const latencyMs = Math.round(roundTripMs * 10) / 10;
  return result.ok ? { at, ok: true, latencyMs } : { at, ok: false, latencyMs, error: result.error ?? 'the local app failed the check' };
}
