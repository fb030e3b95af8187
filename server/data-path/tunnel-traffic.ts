/**
 * A browser request for a tunnel (on its port, or selected on the main port): parked under a
 * fresh request id, given to the tunnel's client, answered by the app or by a standin error.
 * Admission and the finish bookkeeping are shared with upgrades (tunnel-admission.ts).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { BrowserRequest } from '../core/browser-request';
import type { ServerContext } from '../server-context';
import { admitToTunnel } from './tunnel-admission';
import { mayPassOn, type Arrival } from './arrival';

/**
 * Serves one browser request through tunnel `name` (which may not exist). In replica mode it may
 * be parked on another replica, the one whose poll will take it (server/replicas/replica-router.ts).
 */
export function serveThroughTunnel(
  ctx: ServerContext,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
  arrival: Arrival = {},
): void {
  const serveHere = () => admitToTunnel(ctx, name, new BrowserRequest(req, res, name, ctx.logger, ctx.requestIds.next()));
  if (ctx.replicas && mayPassOn(ctx, arrival) && ctx.replicas.forwardIfElsewhere(name, req, res, serveHere)) return;
  serveHere();
}
