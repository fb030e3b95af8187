/**
 * Who is calling the server: the identity every ownership, status and quota decision is made
 * about. It comes from the bearer credential (client-authenticator.ts), never from anything the
 * client says about itself (the registration's `owner` is free text and only informative).
 */

/** How the caller proved who it is. */
export type CallerKind =
  /** The server has no client auth at all: everyone is this caller. */
  | 'open'
  /** The one shared client token (--token/--token-file): a group of people, no user. */
  | 'shared'
  /** A --tokens-file user or an --oidc-issuer subject: one developer. */
  | 'user'
  /** The --admin-token. */
  | 'admin';

/** An authenticated caller. */
export interface Caller {
  kind: CallerKind;
  /** The developer's name (tokens-file `name`, or the OIDC user claim); null for open, shared and admin-token callers. */
  user: string | null;
  /** May stop and release any tunnel, take over any name, and read everything. */
  admin: boolean;
  /** Whether this caller may register tunnel `name` (tokens-file globs; anything for the others). */
  mayRegister(name: string): boolean;
}

/** The caller of a server without client auth. */
export const OPEN_CALLER: Caller = Object.freeze({ kind: 'open', user: null, admin: false, mayRegister: () => true });

/** The caller holding the shared client token. */
export const SHARED_TOKEN_CALLER: Caller = Object.freeze({ kind: 'shared', user: null, admin: false, mayRegister: () => true });

/** The caller holding the admin token. */
export const ADMIN_TOKEN_CALLER: Caller = Object.freeze({ kind: 'admin', user: null, admin: true, mayRegister: () => true });

/** Whether `caller` identifies one developer, so that names and quotas are theirs. */
export function isPersonal(caller: Caller): caller is Caller & { user: string } {
  return caller.user !== null;
}
