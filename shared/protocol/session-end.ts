/**
 * Why the server ended a client session, sent as `reason` with `tunnel_stopped` (and
 * `session_replaced`) so the client can say why and pick its exit code. `stopped` means an admin
 * stopped the tunnel.
 */
export type SessionEndReason = 'released' | 'replaced' | 'expired' | 'stopped' | 'shutdown';

/** The reasons a client may see, for validating what the server sent. */
export const SESSION_END_REASONS: readonly SessionEndReason[] = ['released', 'replaced', 'expired', 'stopped', 'shutdown'];
