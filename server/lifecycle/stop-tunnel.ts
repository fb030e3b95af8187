/**
 * Stopping a tunnel on the server's initiative (it expired, or an admin stopped it), in one
 * cascade: browser requests still queued and those handed to the client but unanswered get a
 * 503, the client's polls are answered with the reason (so it says why and exits 4), the port
 * reservation becomes reusable, and the state ends as `stopped`. Until the port goes to another
 * name, browser requests on it keep getting the stopped tunnel's error (tunnel-traffic.ts).
 */

import type { StandinErrorCode } from '#shared/protocol/error-codes';
import type { ServerContext } from '../server-context';
import type { Tunnel } from '../core/tunnel';

/** Why the server stops a tunnel by itself. */
export type ServerStopReason = 'expired' | 'stopped';

/** Runs the cascade; a tunnel that is already stopped is left alone. */
export function stopTunnel(
  ctx: ServerContext,
  tunnel: Tunnel,
  reason: ServerStopReason,
  options: { announce: boolean } = { announce: true },
): void {
  if (tunnel.state === 'stopped') return;
  const sessionId = tunnel.session.id;
  const { code, message } = browserErrorFor(tunnel.name, reason);
  for (const request of tunnel.stop(reason)) request.fail(code, message);
  for (const request of ctx.handed.ofSession(sessionId)) request.fail(code, message);
  ctx.portPool?.markIdle(tunnel.name);
  // Replica mode: the other replicas stop their copy too (they are told with announce: false).
  if (options.announce) ctx.replicas?.saveStop(tunnel);
  ctx.logger.info(reason === 'expired' ? 'tunnel expired' : 'tunnel stopped by an admin', {
    tunnel: tunnel.name,
    port: tunnel.port,
    expiresAt: new Date(tunnel.expiresAt).toISOString(),
  });
}

/**
 * What browsers get from a stopped tunnel. An expired tunnel says so (503 tunnel_expired); one an
 * admin stopped says it is offline, since "expired" would send its developer looking at --ttl.
 */
export function browserErrorFor(name: string, reason: string | undefined): { code: StandinErrorCode; message: string } {
  if (reason === 'expired') return { code: 'tunnel_expired', message: `Tunnel ${name} expired.` };
  if (reason === 'stopped') return { code: 'tunnel_offline', message: `Tunnel ${name} was stopped by an admin.` };
  return { code: 'tunnel_offline', message: `Tunnel ${name} has no connected standin client.` };
}
