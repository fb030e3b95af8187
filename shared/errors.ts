/**
 * Errors with a stable `code`, so callers branch on codes, not on message text (as undici's
 * UND_ERR_* codes). When an error wraps another, the original is its `cause`.
 */

import type { SessionEndReason } from './protocol/session-end';

/** Base class of every error standin raises on purpose. */
export class StandinError extends Error {
  override name = 'StandinError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A client API message that does not follow the protocol (bad JSON, wrong types, bad name). */
export class ProtocolError extends StandinError {
  override name = 'ProtocolError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('bad_request', message, options);
  }
}

/** Invalid flags, env vars or files; the CLI exits with code 2. */
export class ConfigError extends StandinError {
  override name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('config_error', message, options);
  }
}

/** The server refused the client's token; the client exits with code 3 and never retries. */
export class AuthRefusedError extends StandinError {
  override name = 'AuthRefusedError';
  constructor(message: string) {
    super('unauthorized', message);
  }
}

/** The server ended this client's session (expired, stopped by an admin, replaced by another client). */
export class SessionEndedError extends StandinError {
  override name = 'SessionEndedError';
  constructor(
    code: string,
    message: string,
    /** Why, as the server said it (ErrorBody.reason), when it did. */
    readonly reason?: SessionEndReason,
  ) {
    super(code, message);
  }
}

/**
 * The client and server speak different protocol versions (PROTOCOL_VERSION in shared/protocol/version.ts);
 * the client exits with code 2, since only upgrading one side helps.
 */
export class ProtocolMismatchError extends StandinError {
  override name = 'ProtocolMismatchError';
  constructor(message: string) {
    super('protocol_mismatch', message);
  }
}

/**
 * One poll answer could not be read (a proxy answered instead of the server, or cut or mangled
 * the answer); the client polls again at once, since the session itself is likely fine.
 */
export class BadPollAnswerError extends StandinError {
  override name = 'BadPollAnswerError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('bad_poll_answer', message, options);
  }
}

/**
 * The --server answered, but not as a standin server does (an HTML page, a redirect, a 404 from
 * another app): retrying will not help, so the client exits with code 2 and says so.
 */
export class NotAStandinServerError extends StandinError {
  override name = 'NotAStandinServerError';
  constructor(message: string) {
    super('not_a_standin_server', message);
  }
}

/** The tunnel was closed by its own side (Ctrl-C, close(), the dev server stopping) before it was live. */
export class TunnelClosedError extends StandinError {
  override name = 'TunnelClosedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('closed', message, options);
  }
}
