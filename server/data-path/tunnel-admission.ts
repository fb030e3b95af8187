/**
 * Admission of a browser request to a tunnel, one path for plain requests and upgrades: the
 * refusals (server draining, no such tunnel, tunnel stopped or offline, limits), the counters,
 * the queue and the request timeout. The two kinds differ only in the upgrade limit and the
 * timeout's wording; everything else is this one sequence, so they cannot drift apart.
 */

import type { StandinErrorCode } from '#shared/protocol/error-codes';
import type { BrowserRequest } from '../core/browser-request';
import { failIfHeadTooLarge } from '../listeners/head-size-check';
import { MAX_PENDING_HANDSHAKES_PER_SOURCE } from '../core/open-upgrades';
import { recordFinishedRequest } from '../observability/request-finished';
import type { ServerContext } from '../server-context';
import { browserErrorFor } from '../lifecycle/stop-tunnel';
import type { Tunnel } from '../core/tunnel';
import { sourceAddressOf } from '../http/trusted-proxies';
import { privateTunnelRefusal } from '../identity/private-tunnel-check';

/** Why a request is refused, as the browser will read it. */
export interface Refusal {
  code: StandinErrorCode;
  message: string;
}

/**
 * Admits `request` to tunnel `name` (which may not exist): queues it for the tunnel's client and
 * starts its timeout, or answers it with the refusal. Returns the tunnel when queued.
 */
export function admitToTunnel(ctx: ServerContext, name: string, request: BrowserRequest): Tunnel | undefined {
  const tunnel = ctx.registry.get(name);
  request.onFinished(() => recordFinishedRequest(ctx.metrics, request, tunnel, ctx.replicas));
  if (tunnel) countAsInFlight(tunnel, request);
  const refusal = refusalFor(ctx, name, tunnel, request);
  if (refusal) {
    // Draining: the connection goes too, so the browser's next request opens one to another replica.
    if (ctx.drain.draining && !request.res.headersSent) request.res.setHeader('connection', 'close');
    request.fail(refusal.code, refusal.message);
    return undefined;
  }
  if (failIfHeadTooLarge(request)) return undefined;
  if (!tunnel!.session.offer(request)) {
    request.fail('queue_full', `${ctx.config.maxQueuedRequests} requests are already waiting for tunnel ${name}.`);
    return undefined;
  }
  const what = request.upgrade ? 'did not answer the upgrade' : 'sent no response';
  request.startTimeout(ctx.config.requestTimeoutMs, `The local app ${what} within ${ctx.config.requestTimeoutMs / 1000} s.`);
  return tunnel;
}

function countAsInFlight(tunnel: Tunnel, request: BrowserRequest): void {
  tunnel.counters.requests++;
  tunnel.counters.inFlight++;
  request.attach('inFlight', () => tunnel.counters.inFlight--);
}

function refusalFor(ctx: ServerContext, name: string, tunnel: Tunnel | undefined, request: BrowserRequest): Refusal | undefined {
  // A draining replica passes what it can to the others; what is left it still serves (docs/replicas.md "Rolling update").
  if (ctx.drain.draining && !ctx.replicas)
    return { code: 'tunnel_offline', message: 'The standin server is shutting down; retry in a moment.' };
  if (!tunnel) return { code: 'tunnel_offline', message: `No tunnel named ${name} is registered.` };
  const privateRefusal = privateTunnelRefusal(ctx, tunnel, request.req);
  if (privateRefusal) return { code: 'tunnel_private', message: privateRefusal };
  if (tunnel.state === 'stopped' && (tunnel.stopReason === 'expired' || tunnel.stopReason === 'stopped'))
    return browserErrorFor(name, tunnel.stopReason);
  if (!tunnel.takesRequestsHere) return { code: 'tunnel_offline', message: `Tunnel ${name} has no connected standin client.` };
  if (tunnel.counters.inFlight > ctx.config.maxInFlightRequests) {
    return {
      code: 'queue_full',
      message: `${ctx.config.maxInFlightRequests} requests are already in flight on tunnel ${name} (--max-in-flight).`,
    };
  }
  if (request.upgrade && tunnel.upgrades.size >= ctx.config.maxUpgradesPerTunnel) {
    return {
      code: 'upgrade_limit',
      message: `Tunnel ${name} already carries ${ctx.config.maxUpgradesPerTunnel} open upgraded connections (WebSockets).`,
    };
  }
  // One outsider must not fill the tunnel's upgrade slots with handshakes that never complete.
  if (request.upgrade && tunnel.upgrades.pendingFrom(sourceAddressOf(request.req)) >= MAX_PENDING_HANDSHAKES_PER_SOURCE) {
    return {
      code: 'upgrade_limit',
      message: `${MAX_PENDING_HANDSHAKES_PER_SOURCE} upgrade handshakes from your address are already waiting for tunnel ${name}.`,
    };
  }
  return undefined;
}
