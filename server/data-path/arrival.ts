/** How a browser request reached this server: from a browser (or its proxy), or from another replica. */

import type { ServerContext } from '../server-context';

export interface Arrival {
  /** Passed on by another replica (replica mode): served here, not passed on again unless this replica drains. */
  forwarded?: boolean;
}

/**
 * Whether a request may go on to another replica: once only, so requests cannot loop; twice when
 * this replica drains (the router never picks a draining replica, so that is the end of it).
 */
export function mayPassOn(ctx: ServerContext, arrival: Arrival): boolean {
  return !arrival.forwarded || ctx.drain.draining;
}
