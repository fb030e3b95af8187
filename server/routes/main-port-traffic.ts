/**
 * Browser traffic on the main port (every path outside /_standin/): the tunnel the request
 * selects if it is online, else the --fallback app, else a standin page saying how to select one.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { newUuid } from '../../shared/random-ids';
import { PATHS, TUNNEL_COOKIE } from '../../shared/protocol';
import { sendStandinError } from '../error-page';
import { FallbackProxy, type FallbackReason } from '../fallback-proxy';
import type { ServerContext } from '../server-context';
import { selectTunnel } from '../tunnel-selector';
import { serveThroughTunnel } from './tunnel-traffic';

/** How many online tunnels the no_tunnel page names, so it stays short on a busy server. */
const MAX_LISTED_TUNNELS = 10;

/** Builds the handler for main-port traffic; it owns the connections to the fallback. */
export function createMainPortTraffic(ctx: ServerContext): (req: IncomingMessage, res: ServerResponse) => void {
  const fallback = ctx.config.fallback ? new FallbackProxy(ctx.config.fallback, ctx.config.requestTimeoutMs, ctx.logger, (reason, errorCode) => ctx.metrics.observeFallback(reason, errorCode)) : null;
  return (req, res) => {
    const selection = selectTunnel(req, ctx.registry);
    const tunnel = selection ? ctx.registry.get(selection.name) : undefined;
    if (selection && tunnel?.isOnline) return serveThroughTunnel(ctx, selection.name, req, res);
    if (fallback) return fallback.serve(req, res, fallbackReason(selection !== undefined, tunnel !== undefined), selection?.name);
    // Without a fallback a selected tunnel answers for itself: 503 tunnel_offline or tunnel_expired.
    if (selection) return serveThroughTunnel(ctx, selection.name, req, res);
    sendNoTunnel(ctx, req, res);
  };
}

function fallbackReason(selected: boolean, known: boolean): FallbackReason {
  if (!selected) return 'no_selector';
  return known ? 'tunnel_offline' : 'unknown_tunnel';
}

/** 404 no_tunnel, with the select URL for this very page and the tunnels one could pick. */
function sendNoTunnel(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): void {
  const requestId = newUuid();
  const path = (req.url ?? '/').startsWith('/') ? (req.url ?? '/') : '/';
  const selectLink = (name: string) => `${PATHS.select(name)}?to=${encodeURIComponent(path)}`;
  const online = ctx.registry.list().filter((tunnel) => tunnel.isOnline).map((tunnel) => tunnel.name);
  const listed = online.length === 0 ? 'No tunnel is connected right now; run "standin connect <port>" first.' : `Pick a connected tunnel below${online.length > MAX_LISTED_TUNNELS ? ` (the first ${MAX_LISTED_TUNNELS} of ${online.length})` : ''}.`;
  const advice = `Open ${selectLink('<name>')} in this browser (it sets the ${TUNNEL_COOKIE} cookie and brings you back here), or send the header "X-Standin-Tunnel: <name>", or use the host <name>.<domain>. ${listed}`;
  const links = online.slice(0, MAX_LISTED_TUNNELS).map((name) => ({ href: selectLink(name), text: `Use tunnel ${name}` }));
  ctx.metrics.observeStandinError('no_tunnel');
  ctx.logger.info('no tunnel selected', { requestId, method: req.method, path: req.url, status: 404, error: 'no_tunnel' });
  sendStandinError(req, res, 'no_tunnel', {
    requestId,
    message: `This request to ${path.slice(0, 200)} selected no tunnel, and this standin server has no --fallback app.`,
    advice,
    links,
  });
}
