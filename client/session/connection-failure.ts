/**
 * What the client does about a failed call to the server, decided in one place: exit (and with
 * which reason), poll again, or treat the connection as lost and reconnect. Pure, so the rules
 * are unit-tested without a network.
 */

import { AuthRefusedError, BadPollAnswerError, ProtocolMismatchError, SessionEndedError, StandinError } from '#shared/errors';

/** The action for one failure. */
export type FailureAction =
  /** The token was refused: exit 3, never retried. */
  | 'exit-auth'
  /** The server refused our registration as malformed, or speaks another protocol version: exit 2. */
  | 'exit-config'
  /** The server ended this session (expired, stopped, replaced): exit. */
  | 'exit-ended'
  /**
   * One respond POST failed (the browser left, the request timed out), or one poll answer was
   * unreadable (a proxy's 502 page, a cut answer): poll again at once. The tunnel client turns a
   * second one in a row on the same slot into a reconnect, so a proxy that fails every answer
   * costs the backoff, not a busy loop.
   */
  | 'poll-again'
  /** The server is shutting down: reconnect after a short delay, not the full backoff. */
  | 'reconnect-soon'
  /** Anything else: the connection is lost; reconnect with backoff. */
  | 'reconnect';

/** Which call failed. */
export type FailedCall = 'register' | 'poll' | 'respond';

/**
 * Answers to a registration that retrying cannot change: the request is malformed, the name is
 * another developer's (or outside the user's names), or the user holds too many tunnels.
 */
const REGISTRATION_REFUSALS = new Set(['bad_request', 'name_in_use', 'name_not_allowed', 'too_many_tunnels', 'forbidden']);

/** Decides what a failure of `call` means. */
export function classifyFailure(error: unknown, call: FailedCall): FailureAction {
  if (error instanceof AuthRefusedError) return 'exit-auth';
  if (error instanceof SessionEndedError) return 'exit-ended';
  if (error instanceof ProtocolMismatchError) return 'exit-config';
  if (error instanceof BadPollAnswerError && call !== 'register') return 'poll-again';
  const code = failureCode(error);
  if (code === 'server_shutdown') return 'reconnect-soon';
  if (call === 'register' && (REGISTRATION_REFUSALS.has(code) || code === 'not_a_standin_server' || code in TLS_REASONS))
    return 'exit-config';
  // One poll answer whose head is over the limit says nothing about the connection: that one
  // request is lost, the tunnel polls on (a second failure in a row reconnects).
  if (call === 'poll' && code === 'UND_ERR_HEADERS_OVERFLOW') return 'poll-again';
  // A respond POST can fail on its own (the server cut it because the browser left, or the
  // request already timed out); the next poll tells whether the connection itself is fine.
  if (call === 'respond') return 'poll-again';
  return 'reconnect';
}

/** The stable code of an error: StandinError codes, Node/undici codes, or "unknown". */
export function failureCode(error: unknown): string {
  if (error instanceof StandinError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}

/**
 * TLS failures in plain words instead of OpenSSL's. At the first registration they end the
 * client (exit 2): a certificate does not fix itself by retrying.
 */
const TLS_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT:
    "the server's TLS certificate is self-signed, so it cannot be trusted; use a certificate from a trusted CA, or add the CA with NODE_EXTRA_CA_CERTS=<ca.pem>",
  SELF_SIGNED_CERT_IN_CHAIN:
    "the server's TLS certificate comes from a CA this machine does not trust (a company CA?); add it with NODE_EXTRA_CA_CERTS=<ca.pem>",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    "the server's TLS certificate comes from a CA this machine does not trust (a company CA?); add it with NODE_EXTRA_CA_CERTS=<ca.pem>",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the server's TLS certificate chain is incomplete or from an unknown CA; add the CA with NODE_EXTRA_CA_CERTS=<ca.pem>",
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired; ask the platform team to renew it",
  CERT_NOT_YET_VALID: "the server's TLS certificate is not valid yet (is this machine's clock right?)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate is for another host name than the one in --server; check the host name",
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server does not speak TLS on this port; try http:// instead of https:// in --server',
  EPROTO: 'the server does not speak TLS on this port; try http:// instead of https:// in --server',
};

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'the server is not listening',
  ECONNRESET: 'the server reset the connection',
  UND_ERR_SOCKET: 'the server closed the connection',
  UND_ERR_CLOSED: 'the connection was closed',
  UND_ERR_CONNECT_TIMEOUT: 'connecting to the server timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server did not answer a poll in time (network silent)',
  UND_ERR_BODY_TIMEOUT: 'the server stopped sending mid-answer',
  poll_timeout: 'the server did not answer a poll in time (network silent)',
  ENOTFOUND: 'the server name does not resolve',
  EAI_AGAIN: 'the server name does not resolve (DNS unavailable)',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'the server host is unreachable',
  not_found: 'the server does not know this tunnel (it restarted)',
  unknown_session: 'the server does not know this session (it restarted)',
  server_shutdown: 'the server is shutting down',
  not_a_standin_server: 'the --server URL answers, but it is not a standin server',
  ...TLS_REASONS,
  bad_poll_answer: 'answers from the server could not be read (a proxy in between failed them)',
};

/** True for a failure code that means the TLS handshake with the server failed (certificate trust, expiry). */
export function isTlsFailure(code: string): boolean {
  return code in TLS_REASONS;
}

/** A short human reason for a lost connection, for the "connection lost" log line. */
export function describeFailure(error: unknown): string {
  const code = failureCode(error);
  return REASONS[code] ?? (error instanceof Error ? error.message : String(error));
}
