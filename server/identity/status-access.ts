/**
 * Who may read what on the status API, the dashboard and recent requests (--status-access):
 *
 * - `open`: anyone may list tunnels and their health; `token`: any client credential;
 *   `admin`: admins only. Without client auth on the server the default is `open`, else `token`.
 * - Owners, local targets and recent requests (paths) are shown only to a reader entitled to
 *   that tunnel: an admin; the tunnel's own developer; a shared-token holder for tunnels that
 *   are not a developer's own; anyone on a server without client auth (nothing is private there).
 * - Stopping a tunnel: an admin, or the developer who owns it.
 */

import type { IncomingMessage } from 'node:http';
import type { StatusAccess } from '../config';
import type { Tunnel } from '../core/tunnel';
import type { Caller } from './caller';
import type { ClientAuthenticator } from './client-authenticator';

/** Someone reading the status pages. */
export interface StatusReader {
  caller: Caller;
  /** False for an anonymous reader (only possible with --status-access open on a server with auth). */
  authenticated: boolean;
  /** Whether the server has no client auth at all (then every reader sees everything). */
  serverIsOpen: boolean;
}

/** Why a reader was turned away. */
export type StatusRefusal = {
  status: 401 | 403 | 429;
  code: 'unauthorized' | 'forbidden' | 'too_many_auth_failures';
  message: string;
  retryAfterSeconds?: number;
};

/** Authenticates a status reader under `access`; a refusal says what to send instead. */
export async function authenticateReader(
  auth: ClientAuthenticator,
  access: StatusAccess,
  req: IncomingMessage,
): Promise<StatusReader | StatusRefusal> {
  const hasCredential = typeof req.headers.authorization === 'string';
  const outcome = await auth.authenticate(req, { anonymousAllowed: access === 'open' });
  if (!outcome.ok) {
    if (outcome.rateLimited)
      return {
        status: 429,
        code: 'too_many_auth_failures',
        message: `too many failed authentications from this address; try again in ${outcome.retryAfterSeconds} s`,
        retryAfterSeconds: outcome.retryAfterSeconds,
      };
    return {
      status: 401,
      code: 'unauthorized',
      message: 'the status pages of this server need a token: send "Authorization: Bearer <your standin token>"',
    };
  }
  const reader: StatusReader = {
    caller: outcome.caller,
    authenticated: hasCredential && outcome.caller.kind !== 'open',
    serverIsOpen: !auth.hasClientAuth,
  };
  if (access === 'token' && !reader.authenticated && !reader.serverIsOpen)
    return {
      status: 401,
      code: 'unauthorized',
      message: 'the status pages of this server need a token: send "Authorization: Bearer <your standin token>"',
    };
  if (access === 'admin' && !reader.caller.admin) {
    return reader.authenticated
      ? { status: 403, code: 'forbidden', message: 'the status pages of this server are for admins only (--status-access admin)' }
      : {
          status: 401,
          code: 'unauthorized',
          message: 'the status pages of this server are for admins: send "Authorization: Bearer <admin token>"',
        };
  }
  return reader;
}

/** Whether `reader` may see `tunnel`'s owner, target and recent requests. */
export function maySeeDetails(reader: StatusReader, tunnel: Tunnel): boolean {
  if (reader.serverIsOpen || reader.caller.admin) return true;
  if (!reader.authenticated) return false;
  if (reader.caller.user !== null) return tunnel.user === reader.caller.user;
  return tunnel.user === null;
}

/** Whether `reader` may run "Test now" on a tunnel: any authenticated reader (anyone on an open server). */
export function mayRunCheck(reader: StatusReader): boolean {
  return reader.serverIsOpen || reader.authenticated;
}

/** Whether `reader` may stop `tunnel`. */
export function mayStop(reader: StatusReader, tunnel: Tunnel): boolean {
  if (reader.caller.admin) return true;
  return reader.authenticated && reader.caller.user !== null && tunnel.user === reader.caller.user;
}
