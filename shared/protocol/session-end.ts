/**
 * How the server tells a client that its session is over, written once for both sides: the
 * server answers a poll of an ended session with SESSION_END_ANSWERS[reason] and `reason` in the
 * ErrorBody; the client reads the code and the reason back to say why and pick its exit code.
 */

/**
 * Why the server ended a client session, sent as `reason` with `tunnel_stopped` (and
 * `session_replaced`) so the client can say why and pick its exit code. `stopped` means an admin
 * stopped the tunnel.
 */
export type SessionEndReason = 'released' | 'replaced' | 'expired' | 'stopped' | 'shutdown';

/** The reasons a client may see, for validating what the server sent. */
export const SESSION_END_REASONS: readonly SessionEndReason[] = ['released', 'replaced', 'expired', 'stopped', 'shutdown'];

/**
 * The error codes that end a client's session for good: the client stops and says why (the
 * reason). `server_shutdown` is not one of them: the client registers again in a moment.
 */
export type SessionEndedCode = 'session_replaced' | 'tunnel_stopped';

/** The status and error code a poll of a session ended for `reason` is answered with. */
export const SESSION_END_ANSWERS: Readonly<Record<SessionEndReason, { status: number; error: SessionEndedCode | 'server_shutdown' }>> = {
  released: { status: 410, error: 'tunnel_stopped' },
  replaced: { status: 409, error: 'session_replaced' },
  expired: { status: 410, error: 'tunnel_stopped' },
  stopped: { status: 410, error: 'tunnel_stopped' },
  shutdown: { status: 503, error: 'server_shutdown' },
};

/** Whether an error code from the server ends the session for good. */
export function isSessionEndedCode(code: unknown): code is SessionEndedCode {
  return code === 'session_replaced' || code === 'tunnel_stopped';
}

/** The reason the server sent, when it is one this client knows (a newer server may send others). */
export function parseSessionEndReason(reason: unknown): SessionEndReason | undefined {
  return SESSION_END_REASONS.find((known) => known === reason);
}
