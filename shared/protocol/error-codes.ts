/**
 * The error vocabularies of the protocol: the codes standin answers a browser with (and their
 * HTTP statuses), the codes a client reports instead of an app's response, and the codes of the
 * client API's JSON error answers.
 */

import type { SessionEndReason } from './session-end';

/** Error codes the browser can get from standin itself (docs/design.md "Errors"). */
export const STANDIN_ERROR_STATUS = {
  app_unreachable: 502,
  app_error: 502,
  tunnel_offline: 503,
  tunnel_expired: 503,
  queue_full: 503,
  /** The tunnel carries --max-upgrades open upgraded connections (WebSockets) already. */
  upgrade_limit: 503,
  no_tunnel: 404,
  timeout: 504,
  /** The --fallback app (the in-cluster service) refused or broke the connection. */
  fallback_unreachable: 502,
  /** The request's head does not fit one metadata frame (only past a raised --max-header-size). */
  head_too_large: 431,
  /** A private tunnel (`connect --private`) and the browser has not opened its access link. */
  tunnel_private: 403,
} as const;

/** A code of an error that standin answers the browser with. */
export type StandinErrorCode = keyof typeof STANDIN_ERROR_STATUS;

/** The codes the client may report instead of a response head. */
export type AppFailureCode = 'app_unreachable' | 'app_error';

/** Error codes of the client API, in the JSON ErrorBody of a non-2xx answer. */
export type ClientApiErrorCode =
  | 'unauthorized'
  | 'bad_request'
  | 'not_found'
  | 'payload_too_large'
  | 'unknown_session'
  | 'unknown_request'
  | 'no_free_port'
  /** The name is held by another developer (a live or reserved claim). */
  | 'name_in_use'
  /** A tokens-file or OIDC user asked for a name outside their globs. */
  | 'name_not_allowed'
  /** --max-tunnels-per-user reached. */
  | 'too_many_tunnels'
  /** Too many failed authentications from this address; wait (Retry-After). */
  | 'too_many_auth_failures'
  /** Authenticated, but this caller may not do that. */
  | 'forbidden'
  | 'session_replaced'
  | 'tunnel_stopped'
  | 'server_shutdown'
  | 'too_many_polls'
  /** Replica mode: the shared registry (Redis) cannot be reached; registration is retried. */
  | 'registry_unavailable'
  | 'internal_error';

/** JSON body of every non-2xx answer of the client API (and of standin's other JSON endpoints). */
export interface ErrorBody {
  error: ClientApiErrorCode;
  message: string;
  /** With `tunnel_stopped` and `session_replaced`: why the session ended, machine-readable. */
  reason?: SessionEndReason;
}
