/** The admission rule of private tunnels, shared by plain requests and upgrades (WebSockets). */

import type { IncomingMessage } from 'node:http';
import type { ServerContext } from '../server-context';
import type { Tunnel } from '../core/tunnel';

/** Why `req` may not reach private `tunnel` (a 403 tunnel_private message), or undefined when it may. */
export function privateTunnelRefusal(ctx: ServerContext, tunnel: Tunnel, req: IncomingMessage): string | undefined {
  if (tunnel.privateAccessKey === null) return undefined;
  if (ctx.privateAccess.admits(req, tunnel.name, tunnel.privateAccessKey)) return undefined;
  return `Tunnel ${tunnel.name} is private: it serves only browsers that opened its access link.`;
}
