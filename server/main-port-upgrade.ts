/**
 * Upgrade requests (WebSockets) on the main port. Control paths never upgrade; other paths go
 * to the tunnel the request selects, chosen by the same selector as ordinary main-port traffic.
 */

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CONTROL_PREFIX } from '../shared/protocol';
import type { ServerContext } from './server-context';
import { refuseUpgrade, serveUpgradeThroughTunnel } from './upgrade-traffic';

/** Picks the tunnel a main-port request selects (header, cookie or host), or undefined for none. */
export type TunnelSelector = (req: IncomingMessage) => string | undefined;

/**
 * HOOK for selector routing: until main-port selection exists, no upgrade selects a tunnel.
 * Pass the main port's selector to createMainPortUpgradeHandler instead of this.
 */
export const noTunnelSelected: TunnelSelector = () => undefined;

/** Builds the main server's 'upgrade' listener. */
export function createMainPortUpgradeHandler(ctx: ServerContext, selectTunnel: TunnelSelector = noTunnelSelected) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url ?? '/';
    const name = url.startsWith(CONTROL_PREFIX) || url === '/_standin' ? undefined : selectTunnel(req);
    if (name !== undefined) serveUpgradeThroughTunnel(ctx, name, req, socket, head);
    else refuseUpgrade(req, socket, 'no_tunnel', 'This upgrade request did not select a tunnel.');
  };
}
