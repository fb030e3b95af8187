/**
 * Upgrade requests (WebSockets) on the main port, routed by the same decision as other main-port
 * traffic (main-port-routing.ts): the tunnel the request selects if it is online, else the
 * --fallback app, else a standin error. standin's own paths never upgrade.
 */

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { FallbackUpgrades } from './fallback-upgrade';
import { noTunnelRefusal, routeMainPortRequest } from './main-port-routing';
import type { ServerContext } from '../server-context';
import { refuseUpgrade, serveUpgradeThroughTunnel } from './upgrade-traffic';

/** The main server's 'upgrade' listener, and how to close what it opened to the fallback. */
export interface MainPortUpgrades {
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes the upgraded connections to --fallback (those through tunnels are closed per tunnel). */
  closeAll(reason: string): void;
}

/** Builds the main server's 'upgrade' handling. */
export function createMainPortUpgradeHandler(ctx: ServerContext): MainPortUpgrades {
  const fallback = ctx.config.fallback ? new FallbackUpgrades(ctx.config.fallback, ctx.config.requestTimeoutMs, ctx.logger) : null;
  const handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const route = routeMainPortRequest(ctx, req, fallback !== null);
    if (route.to === 'standin') refuseUpgrade(req, socket, 'no_tunnel', 'The standin control plane takes no upgrade requests.');
    else if (route.to === 'tunnel') serveUpgradeThroughTunnel(ctx, route.name, req, socket, head);
    else if (route.to === 'fallback') fallback!.serve(req, socket, head, route.selected);
    else {
      const { requestId, message } = noTunnelRefusal(ctx, req, req.url ?? '/');
      refuseUpgrade(req, socket, 'no_tunnel', message, requestId);
    }
  };
  return { handle, closeAll: (reason) => fallback?.closeAll(reason) };
}
