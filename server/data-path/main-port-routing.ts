/**
 * The main port's routing decision, one for plain requests and upgrades: standin's own paths, the
 * tunnel the request selects if it is online, else the --fallback app, else (without a fallback)
 * the selected tunnel answers for itself (503 tunnel_offline or tunnel_expired), else no tunnel.
 * The HTTP and upgrade listeners only carry out the route this returns.
 */

import { loggedPath } from '#shared/trace-fields';
import type { IncomingMessage } from 'node:http';
import { newUuid } from '#shared/random-ids';
import { STANDIN_PATH_PREFIX } from '#shared/protocol/paths';
import type { FallbackReason } from './fallback-proxy';
import type { ServerContext } from '../server-context';
import { selectTunnel } from '../selector/tunnel-selector';

/** Where a main-port request goes. */
export type MainPortRoute =
  { to: 'standin' } | { to: 'tunnel'; name: string } | { to: 'fallback'; reason: FallbackReason; selected?: string } | { to: 'no_tunnel' };

/** Whether `url` is standin's own (control plane, client API, select): never tunnel traffic. */
export function isStandinPath(url: string): boolean {
  return url.startsWith(STANDIN_PATH_PREFIX) || url === '/_standin';
}

/** Routes one main-port request; `hasFallback` says whether --fallback is set. */
export function routeMainPortRequest(ctx: ServerContext, req: IncomingMessage, hasFallback: boolean): MainPortRoute {
  if (isStandinPath(req.url ?? '/')) return { to: 'standin' };
  const selection = selectTunnel(req, ctx.registry);
  const tunnel = selection ? ctx.registry.get(selection.name) : undefined;
  if (selection && tunnel?.takesRequests) return { to: 'tunnel', name: selection.name };
  if (hasFallback)
    return { to: 'fallback', reason: fallbackReason(selection !== undefined, tunnel !== undefined), selected: selection?.name };
  if (selection) return { to: 'tunnel', name: selection.name };
  return { to: 'no_tunnel' };
}

function fallbackReason(selected: boolean, known: boolean): FallbackReason {
  if (!selected) return 'no_selector';
  return known ? 'tunnel_offline' : 'unknown_tunnel';
}

/** The no_tunnel message, the same for a page and an upgrade; logs the refusal. Returns the request id used. */
export function noTunnelRefusal(ctx: ServerContext, req: IncomingMessage, path: string): { requestId: string; message: string } {
  const requestId = newUuid();
  const what = req.headers.upgrade === undefined ? 'request' : 'upgrade request';
  ctx.metrics.observeStandinError('no_tunnel');
  ctx.logger.info('no tunnel selected', { requestId, method: req.method, path: loggedPath(req.url), status: 404, error: 'no_tunnel' });
  return { requestId, message: `This ${what} to ${path.slice(0, 200)} selected no tunnel, and this standin server has no --fallback app.` };
}
