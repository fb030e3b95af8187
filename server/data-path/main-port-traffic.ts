/**
 * Browser traffic on the main port (every path outside /_standin/), routed by
 * main-port-routing.ts: through a tunnel, to the --fallback app, or a standin page saying how to
 * select a tunnel.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { TUNNEL_COOKIE } from '#shared/protocol/headers';
import { PATHS } from '#shared/protocol/paths';
import { sendStandinError } from '../http/error-page';
import { FallbackProxy } from './fallback-proxy';
import { noTunnelRefusal, routeMainPortRequest } from './main-port-routing';
import type { ServerContext } from '../server-context';
import { serveThroughTunnel } from './tunnel-traffic';

/** How many online tunnels the no_tunnel page names, so it stays short on a busy server. */
const MAX_LISTED_TUNNELS = 10;

/** Builds the handler for main-port traffic; it owns the connections to the fallback. */
export function createMainPortTraffic(ctx: ServerContext): (req: IncomingMessage, res: ServerResponse) => void {
  const fallback = ctx.config.fallback
    ? new FallbackProxy(ctx.config.fallback, ctx.config.requestTimeoutMs, ctx.logger, (reason, errorCode) =>
        ctx.metrics.observeFallback(reason, errorCode),
      )
    : null;
  return (req, res) => {
    const route = routeMainPortRequest(ctx, req, fallback !== null);
    if (route.to === 'tunnel') serveThroughTunnel(ctx, route.name, req, res);
    else if (route.to === 'fallback') fallback!.serve(req, res, route.reason, route.selected);
    else sendNoTunnel(ctx, req, res);
  };
}

/** 404 no_tunnel, with the select URL for this very page and the tunnels one could pick. */
function sendNoTunnel(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').startsWith('/') ? (req.url ?? '/') : '/';
  const selectLink = (name: string) => `${PATHS.select(name)}?to=${encodeURIComponent(path)}`;
  const online = ctx.registry
    .list()
    .filter((tunnel) => tunnel.isOnline)
    .map((tunnel) => tunnel.name);
  const listed =
    online.length === 0
      ? 'No tunnel is connected right now; run "standin connect <port>" first.'
      : `Pick a connected tunnel below${online.length > MAX_LISTED_TUNNELS ? ` (the first ${MAX_LISTED_TUNNELS} of ${online.length})` : ''}.`;
  const advice = `Open ${selectLink('<name>')} in this browser (it sets the ${TUNNEL_COOKIE} cookie and brings you back here), or send the header "X-Standin-Tunnel: <name>", or use the host <name>.<domain>. ${listed}`;
  const links = online.slice(0, MAX_LISTED_TUNNELS).map((name) => ({ href: selectLink(name), text: `Use tunnel ${name}` }));
  sendStandinError(req, res, 'no_tunnel', { ...noTunnelRefusal(ctx, req, path), advice, links });
}
