/**
 * Forgetting a tunnel: it leaves the registry, the status API and the health history. Used for
 * a registration that never polled (it gives its port and name back), for a stopped tunnel past
 * --forget-after (so the registry does not grow with every registration ever made), and for an
 * admin's `DELETE …?forget=1` (which also releases the name and the port).
 */

import type { ServerContext } from '../server-context';
import type { Tunnel } from '../core/tunnel';

/** What else goes with the tunnel. */
export interface ForgetOptions {
  /** Release its port reservation, so another name may get the port. */
  releasePort: boolean;
  /** Drop its name claim, so anyone may register the name. */
  releaseName: boolean;
}

export function forgetTunnel(ctx: ServerContext, tunnel: Tunnel, options: ForgetOptions): void {
  // Only the tunnel the registry holds under that name (a newer one may have replaced it).
  if (ctx.registry.get(tunnel.name) !== tunnel) return;
  ctx.registry.remove(tunnel.name);
  if (tunnel.stopReason) ctx.endedSessions.remember(tunnel.session.id, tunnel.stopReason);
  ctx.health.forget(tunnel.name);
  ctx.replicas?.saveForgotten(tunnel.name);
  if (options.releasePort) ctx.portPool?.release(tunnel.name);
  const claim = ctx.claims.get(tunnel.name);
  if (options.releaseName) ctx.claims.delete(tunnel.name);
  // The claim outlives the tunnel; its last use is the tunnel's last sign of life.
  else if (claim && claim.lastUsedAt < tunnel.lastPollAt) ctx.claims.set({ ...claim, lastUsedAt: tunnel.lastPollAt });
}
