/**
 * Whether a client session is still there. HTTP long-polls give no heartbeat of their own, so
 * the server judges by what it last heard: a session is alive while it holds a poll, while a
 * request it took is still unanswered or its response is still streaming in (an event stream
 * may hold a respond POST for hours, and a client whose polls are all busy with such streams is
 * there all the same), or while its last poll or response is recent (within
 * poll-timeout + grace, the longest a healthy client goes between polls). A held poll that the
 * client's side closed means its connections are gone (killed process, reset network): then
 * the session counts as gone at once instead of after the grace.
 */

export class SessionLiveness {
  /** When a poll or response of this session last arrived, ms since epoch. */
  lastHeardAt = Date.now();
  /** Set when a held poll was closed by the client's side; cleared by the next contact. */
  private peerLeftAt: number | undefined;

  constructor(private readonly silentAfterMs: number) {}

  /** A poll or a response arrived. */
  heard(): void {
    this.lastHeardAt = Date.now();
    this.peerLeftAt = undefined;
  }

  /** A held poll was closed from the client's side. */
  peerLeft(): void {
    this.peerLeftAt = Date.now();
  }

  /**
   * Alive when holding polls or answering requests (unanswered, or with a response still streaming
   * in), or recently heard from (and not seen leaving).
   */
  isAlive(heldPolls: number, requestsInProgress: number, now = Date.now()): boolean {
    if (heldPolls > 0 || requestsInProgress > 0) return true;
    if (this.peerLeftAt !== undefined) return false;
    return now - this.lastHeardAt < this.silentAfterMs;
  }
}
