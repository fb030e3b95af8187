/**
 * A browser request for a tunnel (on its port, or selected on the main port): parked under a
 * fresh request id, given to the tunnel's client, answered by the app or by a standin error.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { logAccess } from '../access-log';
import { BrowserRequest } from '../browser-request';
import { recentRequestOf } from '../recent-requests';
import { failIfHeadTooLarge } from '../head-size-check';
import type { ServerContext } from '../server-context';
import { browserErrorFor } from '../stop-tunnel';
import type { Tunnel } from '../tunnel';

/** Serves one browser request through tunnel `name` (which may not exist). */
export function serveThroughTunnel(ctx: ServerContext, name: string, req: IncomingMessage, res: ServerResponse): void {
  const request = new BrowserRequest(req, res, name, ctx.logger);
  const tunnel = ctx.registry.get(name);
  res.once('close', () => finish(ctx, request, tunnel));
  if (ctx.drain.draining) {
    // The connection goes too, so the browser's next request opens one to another replica.
    res.setHeader('connection', 'close');
    request.fail('tunnel_offline', 'The standin server is shutting down; retry in a moment.');
    return;
  }
  if (!tunnel) {
    request.fail('tunnel_offline', `No tunnel named ${name} is registered.`);
    return;
  }
  tunnel.counters.requests++;
  tunnel.counters.inFlight++;
  if (tunnel.state === 'stopped' && (tunnel.stopReason === 'expired' || tunnel.stopReason === 'stopped')) {
    const { code, message } = browserErrorFor(name, tunnel.stopReason);
    request.fail(code, message);
    return;
  }
  if (!tunnel.isOnline) {
    request.fail('tunnel_offline', `Tunnel ${name} has no connected standin client.`);
    return;
  }
  if (tunnel.counters.inFlight > ctx.config.maxInFlightRequests) {
    request.fail('queue_full', `${ctx.config.maxInFlightRequests} requests are already in flight on tunnel ${name} (--max-in-flight).`);
    return;
  }
  if (failIfHeadTooLarge(request)) return;
  if (!tunnel.session.offer(request)) {
    request.fail('queue_full', `${ctx.config.maxQueuedRequests} requests are already waiting for tunnel ${name}.`);
    return;
  }
  request.startTimeout(ctx.config.requestTimeoutMs, () => {
    tunnel.session.withdraw(request);
    ctx.handed.remove(request.id);
    request.fail('timeout', `The local app sent no response within ${ctx.config.requestTimeoutMs / 1000} s.`);
  });
}

function finish(ctx: ServerContext, request: BrowserRequest, tunnel: Tunnel | undefined): void {
  // A browser that leaves while its request waits for a poll takes the request with it.
  if (request.state === 'queued') tunnel?.session.withdraw(request);
  request.clearTimeout();
  if (tunnel) {
    tunnel.counters.inFlight--;
    tunnel.counters.bytesIn += request.bytesIn;
    tunnel.counters.bytesOut += request.bytesOut;
    if (request.errorCode) tunnel.counters.errors++;
    tunnel.recentRequests.add(recentRequestOf(request));
  }
  ctx.metrics.observeRequest(request, (performance.now() - request.receivedAt) / 1000);
  logAccess(request);
}
