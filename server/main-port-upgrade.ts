/**
 * Upgrade requests (WebSockets) on the main port, routed like other main-port traffic
 * (routes/main-port-traffic.ts): the tunnel the request selects if it is online, else the
 * --fallback app, else a standin error. The control plane never upgrades.
 */

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CONTROL_PREFIX } from '../shared/protocol';
import { FallbackUpgrades } from './fallback-upgrade';
import type { ServerContext } from './server-context';
import { selectTunnel } from './tunnel-selector';
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
    const url = req.url ?? '/';
    if (url.startsWith(CONTROL_PREFIX) || url === '/_standin') {
      refuseUpgrade(req, socket, 'no_tunnel', 'The standin control plane takes no upgrade requests.');
      return;
    }
    const selection = selectTunnel(req, ctx.registry);
    const tunnel = selection ? ctx.registry.get(selection.name) : undefined;
    if (selection && tunnel?.isOnline) return serveUpgradeThroughTunnel(ctx, selection.name, req, socket, head);
    if (fallback) return fallback.serve(req, socket, head, selection?.name);
    // Without a fallback a selected tunnel answers for itself: 503 tunnel_offline or tunnel_expired.
    if (selection) return serveUpgradeThroughTunnel(ctx, selection.name, req, socket, head);
    refuseUpgrade(req, socket, 'no_tunnel', 'This upgrade request selected no tunnel, and this standin server has no --fallback app.');
  };
  return { handle, closeAll: (reason) => fallback?.closeAll(reason) };
}
