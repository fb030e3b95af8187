/**
 * The server's periodic clean-up, every SWEEP_INTERVAL_MS:
 * - stops each tunnel whose expiresAt has passed, so a tunnel stops within that interval
 *   (docs/design.md "Tunnel lifecycle and health": within 2 s) after it expires;
 * - a registration whose client never polled within NEVER_POLLED_GRACE_MS gives its port and
 *   its name back (a crashed or hostile client must not hold them);
 * - forgets tunnels stopped longer than --forget-after, and name claims unused for --claim-ttl.
 */

import { forgetTunnel } from './forget-tunnel';
import type { ServerContext } from '../server-context';
import { stopTunnel } from './stop-tunnel';

/** How often the sweeper looks; well under the 2 s that docs/design.md "Tunnel lifecycle and health" allows, and one pass is a cheap loop. */
export const SWEEP_INTERVAL_MS = 500;

/** A tunnel whose client has not polled this long after registering gives its port back. */
export const NEVER_POLLED_GRACE_MS = 30_000;

/** Stops every tunnel past its expiry now. */
export function sweepExpiredTunnels(ctx: ServerContext, now = Date.now()): void {
  for (const tunnel of ctx.registry.list()) {
    if (tunnel.state !== 'stopped' && tunnel.expiresAt <= now) stopTunnel(ctx, tunnel, 'expired');
  }
}

/** Frees what registrations that never polled hold, and forgets what is long stopped or unused. */
export function sweepAbandoned(ctx: ServerContext, now = Date.now(), neverPolledGraceMs = NEVER_POLLED_GRACE_MS): void {
  for (const tunnel of ctx.registry.list()) {
    if (tunnel.state !== 'stopped' && !tunnel.everPolled && now - tunnel.session.startedAt > neverPolledGraceMs) {
      ctx.logger.info('tunnel never polled, giving its port and name back', { tunnel: tunnel.name, port: tunnel.port });
      for (const request of tunnel.stop('released'))
        request.fail('tunnel_offline', `Tunnel ${tunnel.name} has no connected standin client.`);
      forgetTunnel(ctx, tunnel, { releasePort: true, releaseName: true });
    } else if (tunnel.state === 'stopped' && tunnel.stoppedAt !== undefined && now - tunnel.stoppedAt > ctx.config.forgetAfterMs) {
      forgetTunnel(ctx, tunnel, { releasePort: false, releaseName: false });
    }
  }
  ctx.claims.dropUnusedSince(now - ctx.config.claimTtlMs, (name) => {
    const tunnel = ctx.registry.get(name);
    return tunnel !== undefined && tunnel.state !== 'stopped';
  });
}

/** Starts the sweeper; returns a function that stops it. The timer never keeps the process alive. */
export function startTunnelSweeper(ctx: ServerContext): () => void {
  let passes = 0;
  const timer = setInterval(() => {
    sweepExpiredTunnels(ctx);
    // Clean-up is not urgent: once a second is plenty, and keeps the expiry pass cheap.
    // Replica mode: one replica (the health lease holder) does the clean-up for all.
    if (++passes % 2 === 0 && (!ctx.replicas || ctx.replicas.runsClusterChores)) sweepAbandoned(ctx);
  }, SWEEP_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
