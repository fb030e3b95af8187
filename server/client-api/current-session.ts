/**
 * Whether a client's call carries the current session of its tunnel. In replica mode a call can
 * reach a replica before the news of the registration that made the session: another replica
 * answered it a moment ago, and the change travels through Redis (docs/replicas.md "Shared
 * state"). Refusing it there would tell the client its tunnel was taken over, and the client
 * would end. So a replica whose copy does not have the session reads the tunnel again first.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADER } from '#shared/protocol/headers';
import type { Tunnel } from '../core/tunnel';
import { replyError } from '../http/json-reply';
import type { ServerContext } from '../server-context';

/** The tunnel `name` if `sessionId` is its current session on this replica's copy. */
export function tunnelOfSession(ctx: ServerContext, name: string, sessionId: string | string[] | undefined): Tunnel | undefined {
  const tunnel = ctx.registry.get(name);
  return tunnel !== undefined && tunnel.session.id === sessionId ? tunnel : undefined;
}

/**
 * The same, reading the tunnel from Redis again first when this replica's copy does not have
 * that session (replica mode only). Throws when Redis cannot be reached.
 */
async function findSessionTunnel(ctx: ServerContext, name: string, sessionId: string | string[] | undefined): Promise<Tunnel | undefined> {
  const known = tunnelOfSession(ctx, name, sessionId);
  if (known || !ctx.replicas || typeof sessionId !== 'string') return known;
  await ctx.replicas.refreshTunnel(name);
  return tunnelOfSession(ctx, name, sessionId);
}

/**
 * Runs `decide` once this replica's copy of tunnel `name` can say whether `sessionId` is its
 * session: at once when it is the current one (or on a single server), else after reading the
 * tunnel from Redis again. When Redis cannot be reached the call is answered 503
 * registry_unavailable (the client registers again, and retries that); when the caller left
 * meanwhile, nothing runs.
 */
export function afterSessionCheck(
  ctx: ServerContext,
  name: string,
  sessionId: string | string[] | undefined,
  res: ServerResponse,
  decide: () => void,
): void {
  if (!ctx.replicas || typeof sessionId !== 'string' || tunnelOfSession(ctx, name, sessionId)) return decide();
  let callerLeft = false;
  const noteLeft = () => (callerLeft = true);
  res.once('close', noteLeft);
  findSessionTunnel(ctx, name, sessionId)
    .then(
      () => {
        res.off('close', noteLeft);
        if (!callerLeft) decide();
      },
      (error: Error) => {
        res.off('close', noteLeft);
        ctx.logger.warn('could not read a tunnel from redis to check a session', { tunnel: name, error: error.message });
        if (!callerLeft) replyRegistryUnavailable(res);
      },
    )
    .catch((error: Error) => {
      // `decide` threw: that one call fails, the process goes on.
      ctx.logger.error('internal error while answering a client call', { tunnel: name, error: error.message });
      res.destroy();
    });
}

/**
 * For a call that needs the tunnel's current session (compare, outbound): true when it was
 * refused, 503 registry_unavailable when Redis cannot be read, else 404 unknown_session, with the
 * call's body drained.
 */
export async function refusedForSession(ctx: ServerContext, name: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const tunnel = await findSessionTunnel(ctx, name, req.headers[HEADER.session]).catch(() => null);
  if (tunnel) return false;
  req.resume();
  if (tunnel === null) replyRegistryUnavailable(res);
  else replyError(res, 404, 'unknown_session', `tunnel ${name} has no session with that id; register it first`);
  return true;
}

/** Replica mode without Redis: the call cannot be decided now; the client retries. */
export function replyRegistryUnavailable(res: ServerResponse): void {
  replyError(res, 503, 'registry_unavailable', 'the standin servers cannot reach their shared registry (Redis) right now; retrying helps');
}
