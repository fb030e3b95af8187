/**
 * Expires tunnels: checks every SWEEP_INTERVAL_MS and stops each tunnel whose expiresAt has
 * passed, so a tunnel stops within that interval (docs/design.md "Tunnel lifecycle and health": within 2 s) after it expires.
 */

import type { ServerContext } from './server-context';
import { stopTunnel } from './stop-tunnel';

/** How often the sweeper looks; well under the 2 s that docs/design.md "Tunnel lifecycle and health" allows, and one pass is a cheap loop. */
export const SWEEP_INTERVAL_MS = 500;

/** Stops every tunnel past its expiry now. */
export function sweepExpiredTunnels(ctx: ServerContext, now = Date.now()): void {
  for (const tunnel of ctx.registry.list()) {
    if (tunnel.state !== 'stopped' && tunnel.expiresAt <= now) stopTunnel(ctx, tunnel, 'expired');
  }
}

/** Starts the sweeper; returns a function that stops it. The timer never keeps the process alive. */
export function startTunnelSweeper(ctx: ServerContext): () => void {
  const timer = setInterval(() => sweepExpiredTunnels(ctx), SWEEP_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
