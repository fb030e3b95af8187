/**
 * The one "request finished" step: when a browser request's response has closed (done, failed or
 * cut), its tunnel's counters, its recent requests, the metrics and the log learn about it. Plain
 * requests and upgrades (refused, failed or closed after their 101) all end here, so no path can
 * skip a step.
 */

import { loggedPath } from '#shared/trace-fields';
import { performance } from 'node:perf_hooks';
import { getHeader } from '#shared/http-headers';
import { logAccess } from './access-log';
import type { BrowserRequest } from '../core/browser-request';
import type { StandinMetrics } from './metrics';
import { recentRequestOf } from './recent-requests';
import type { Replication } from '../replicas/replication';
import type { Tunnel } from '../core/tunnel';

/** Records `request`, which has finished, for `tunnel` (undefined when no such tunnel exists). */
export function recordFinishedRequest(
  metrics: StandinMetrics,
  request: BrowserRequest,
  tunnel: Tunnel | undefined,
  replicas: Replication | null = null,
): void {
  if (tunnel) {
    tunnel.counters.bytesIn += request.bytesIn;
    tunnel.counters.bytesOut += request.bytesOut;
    if (request.errorCode) tunnel.counters.errors++;
    const facts = recentRequestOf(request);
    tunnel.recentRequests.add(facts);
    replicas?.saveRecentRequest(tunnel.name, facts);
  }
  if (request.state === 'upgraded') return recordClosedUpgrade(metrics, request);
  metrics.observeRequest(request, (performance.now() - request.receivedAt) / 1000);
  logAccess(request);
}

/** An upgraded connection (WebSocket) closed: its bytes and how long it was open. */
function recordClosedUpgrade(metrics: StandinMetrics, request: BrowserRequest): void {
  metrics.observeUpgradeClosed(request.bytesIn, request.bytesOut);
  request.logger.info('upgraded connection closed', {
    requestId: request.id,
    tunnel: request.tunnelName,
    method: request.req.method,
    path: loggedPath(request.req.url),
    status: 101,
    protocol: getHeader(request.req.rawHeaders, 'upgrade'),
    bytesIn: request.bytesIn,
    bytesOut: request.bytesOut,
    appMs: Math.round(request.appMs * 10) / 10,
    openMs: Math.round(performance.now() - (request.headAt ?? request.receivedAt)),
  });
}
