/**
 * Sessions of tunnels the server has forgotten (an admin's `DELETE …?forget=1`, or a stopped
 * tunnel past --forget-after), remembered by session id for a while. A poll of such a session
 * that was on its way when the tunnel went is then told why the session ended (410
 * tunnel_stopped), as every idle poll was. Without this it got 404 not_found, which a client
 * takes for a server that restarted, and it registered the name again: the name an admin had
 * just released went straight back to the laptop it was taken from.
 */

import type { SessionEndReason } from '#shared/protocol/session-end';

/** Enough for every tunnel of a busy server; the oldest are dropped first. */
const MAX_ENDED_SESSIONS = 10_000;

export class EndedSessions {
  private readonly ended = new Map<string, { reason: SessionEndReason; until: number }>();

  /** @param keepMs how long a poll may still arrive: a poll timeout and its grace, twice. */
  constructor(private readonly keepMs: number) {}

  remember(sessionId: string, reason: SessionEndReason, now = Date.now()): void {
    this.ended.delete(sessionId);
    this.ended.set(sessionId, { reason, until: now + this.keepMs });
    for (const oldest of this.ended.keys()) {
      if (this.ended.size <= MAX_ENDED_SESSIONS) break;
      this.ended.delete(oldest);
    }
  }

  /** Why session `sessionId` ended, if it belonged to a tunnel forgotten within keepMs. */
  reasonOf(sessionId: string | string[] | undefined, now = Date.now()): SessionEndReason | undefined {
    if (typeof sessionId !== 'string') return undefined;
    const entry = this.ended.get(sessionId);
    if (entry && entry.until < now) this.ended.delete(sessionId);
    return entry && entry.until >= now ? entry.reason : undefined;
  }
}
