/**
 * Prometheus metrics at /_standin/metrics, via prom-client, names prefixed `standin_`. Per
 * browser request the cost is a few counter and histogram updates in observeRequest(); gauges
 * of tunnels and waiting requests are computed only when Prometheus scrapes.
 */

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HealthStatus } from '#shared/protocol/status-api';
import type { BrowserRequest } from '../core/browser-request';
import type { HandedRequests } from '../core/handed-requests';
import type { HealthCheck } from '../lifecycle/health-history';
import type { HealthMonitor } from '../lifecycle/health-monitor';
import type { TunnelRegistry } from '../core/tunnel-registry';
import type { TunnelState } from '../core/tunnel';

const STATES: TunnelState[] = ['pending', 'active', 'stopped'];
const HEALTHS: HealthStatus[] = ['healthy', 'degraded', 'down', 'unknown'];

/** Histogram buckets of a request's duration, seconds: up to the default --request-timeout (60 s). */
export const REQUEST_DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The `outcome` label of standin_request_duration_seconds. */
type RequestOutcome = 'completed' | 'aborted' | 'standin_error';

/** What the metrics read: the gauges when Prometheus scrapes, the health histogram as checks finish. */
export interface MetricsSources {
  registry: TunnelRegistry;
  handed: HandedRequests;
  health: HealthMonitor;
}

export class StandinMetrics {
  readonly registry = new Registry();
  private readonly requestDuration: Histogram<'outcome'>;
  /** The duration histogram's children per outcome, looked up once instead of per request. */
  private readonly requestDurationOf: Record<RequestOutcome, { observe(value: number): void }>;
  private readonly errors: Counter<'code'>;
  private readonly bytes: Counter<'direction'>;
  private readonly bytesIn: { inc(value: number): void };
  private readonly bytesOut: { inc(value: number): void };
  private readonly healthCheckDuration: Histogram<'result'>;
  private readonly upgrades: Counter;
  private readonly fallbackRequests: Counter<'reason'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'standin_' });
    this.requestDuration = new Histogram({
      name: 'standin_request_duration_seconds',
      help: 'Browser requests through tunnels, from arrival to the last byte of the response',
      labelNames: ['outcome'],
      buckets: REQUEST_DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.errors = new Counter({
      name: 'standin_errors_total',
      help: 'Browser requests that standin answered with an error, by code',
      labelNames: ['code'],
      registers,
    });
    this.requestDurationOf = {
      completed: this.requestDuration.labels('completed'),
      aborted: this.requestDuration.labels('aborted'),
      standin_error: this.requestDuration.labels('standin_error'),
    };
    this.bytes = new Counter({
      name: 'standin_transferred_bytes_total',
      help: 'Body bytes through tunnels: in = browser to app, out = app to browser',
      labelNames: ['direction'],
      registers,
    });
    this.bytesIn = this.bytes.labels('in');
    this.bytesOut = this.bytes.labels('out');
    this.healthCheckDuration = new Histogram({
      name: 'standin_health_check_duration_seconds',
      help: 'Health check round trips through the client to the local app',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    sources.health.onCheck((check) => this.observeHealthCheck(check));
    new Gauge({
      name: 'standin_tunnels',
      help: 'Tunnels by lifecycle state',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = countBy(sources.registry.list(), STATES, (tunnel) => tunnel.state);
        for (const state of STATES) this.set({ state }, counts[state]);
      },
    });
    new Gauge({
      name: 'standin_tunnels_by_health',
      help: 'Tunnels that are not stopped, by health',
      labelNames: ['health'],
      registers,
      collect() {
        const health = sources.health;
        const live = sources.registry.list().filter((tunnel) => tunnel.state !== 'stopped');
        const counts = countBy(live, HEALTHS, (tunnel) => health.statusOf(tunnel));
        for (const status of HEALTHS) this.set({ health: status }, counts[status]);
      },
    });
    new Gauge({
      name: 'standin_queued_requests',
      help: 'Browser requests waiting for a client poll',
      registers,
      collect() {
        this.set(sources.registry.list().reduce((sum, tunnel) => sum + tunnel.session.queuedCount, 0));
      },
    });
    this.fallbackRequests = new Counter({
      name: 'standin_fallback_requests_total',
      help: 'Main-port requests sent to --fallback, by why: no_selector, unknown_tunnel, tunnel_offline',
      labelNames: ['reason'],
      registers,
    });
    this.upgrades = new Counter({
      name: 'standin_upgrades_total',
      help: 'Upgrade requests (WebSockets) the local app accepted with a 101',
      registers,
    });
    new Gauge({
      name: 'standin_upgraded_connections',
      help: 'Upgraded connections (WebSockets) open through tunnels now, handshakes included',
      registers,
      collect() {
        this.set(sources.registry.list().reduce((sum, tunnel) => sum + tunnel.upgrades.size, 0));
      },
    });
    new Gauge({
      name: 'standin_parked_requests',
      help: 'Browser requests handed to a client and waiting for the app response',
      registers,
      collect() {
        this.set(sources.handed.size);
      },
    });
  }

  /** Records one finished browser request (called once per request, from its finish). */
  observeRequest(request: BrowserRequest, durationSeconds: number): void {
    const outcome: RequestOutcome = request.errorCode ? 'standin_error' : request.res.writableFinished ? 'completed' : 'aborted';
    this.requestDurationOf[outcome].observe(durationSeconds);
    if (request.errorCode) this.errors.inc({ code: request.errorCode });
    if (request.bytesIn > 0) this.bytesIn.inc(request.bytesIn);
    if (request.bytesOut > 0) this.bytesOut.inc(request.bytesOut);
  }

  /** Records one request sent to --fallback, and the standin error it got if the fallback failed it. */
  observeFallback(reason: string, errorCode: string | undefined): void {
    this.fallbackRequests.inc({ reason });
    if (errorCode) this.errors.inc({ code: errorCode });
  }

  /** Records an error standin answered outside a tunnel (no_tunnel on the main port). */
  observeStandinError(code: string): void {
    this.errors.inc({ code });
  }

  /** Records an upgrade the app accepted (its bytes are recorded when it closes). */
  observeUpgradeAccepted(): void {
    this.upgrades.inc();
  }

  /** Records the bytes an upgraded connection carried, once it closed. */
  observeUpgradeClosed(bytesIn: number, bytesOut: number): void {
    if (bytesIn > 0) this.bytesIn.inc(bytesIn);
    if (bytesOut > 0) this.bytesOut.inc(bytesOut);
  }

  /** Records one health check. */
  private observeHealthCheck(check: HealthCheck): void {
    if (check.latencyMs !== null) this.healthCheckDuration.observe({ result: check.ok ? 'ok' : 'failed' }, check.latencyMs / 1000);
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function countBy<T, K extends string>(items: T[], keys: K[], keyOf: (item: T) => K): Record<K, number> {
  const counts = Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
  for (const item of items) counts[keyOf(item)]++;
  return counts;
}
