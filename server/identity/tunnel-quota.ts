/**
 * Bounds on how many tunnels a caller may hold: a developer (tokens file or OIDC) at most
 * --max-tunnels-per-user at once; and, whoever calls, the server at most MAX_TUNNELS registered
 * and not stopped, so a shared token cannot grow the registry without end either.
 */

import type { ServerContext } from '../server-context';
import { isPersonal, type Caller } from './caller';

/** Tunnels registered and not stopped, server-wide. */
export const MAX_TUNNELS = 10_000;

/** Why `caller` may not register one more tunnel `name`, or undefined when it may. Re-registering a name one holds never counts twice. */
export function checkTunnelQuota(ctx: ServerContext, caller: Caller, name: string): string | undefined {
  let total = 0;
  let ofUser = 0;
  for (const tunnel of ctx.registry.list()) {
    if (tunnel.state === 'stopped' || tunnel.name === name) continue;
    total++;
    if (isPersonal(caller) && tunnel.user === caller.user) ofUser++;
  }
  if (isPersonal(caller) && !caller.admin && ofUser >= ctx.config.maxTunnelsPerUser) {
    return `user ${caller.user} already has ${ofUser} tunnels (--max-tunnels-per-user ${ctx.config.maxTunnelsPerUser}); stop one first (Ctrl-C its standin connect)`;
  }
  if (total >= MAX_TUNNELS) return `this server already holds ${total} tunnels; try again later`;
  return undefined;
}
