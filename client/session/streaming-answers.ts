/**
 * The places for responses that stream back to the server without holding a poll slot.
 *
 * A respond POST is normally held by the server as the slot's next poll, so the slot is busy for
 * as long as the app's body flows. That is fine for a download of a second, but an event stream
 * (server-sent events, a dev server's live log) may flow for hours: --concurrency of them would
 * take every slot, the server would see no poll, and every other request of the tunnel would get
 * 503 tunnel_offline. So a streamed answer takes a place here and goes out marked not-a-poll (the
 * server answers it 204 when its body ends) while its slot polls again at once. The places are
 * bounded, because each one holds a connection to the server and one to the app; past the bound
 * a streamed answer holds its slot, as it always did.
 */

/** Streamed answers that may run at once without holding a poll slot. */
export const MAX_STREAMING_ANSWERS = 64;

export class StreamingAnswers {
  private running = 0;

  constructor(private readonly max: number = MAX_STREAMING_ANSWERS) {}

  /** Takes a place; false when every place is taken (the answer then holds its poll slot). */
  tryTake(): boolean {
    if (this.running >= this.max) return false;
    this.running++;
    return true;
  }

  /** Gives a place back (the answer's POST settled). */
  release(): void {
    this.running = Math.max(0, this.running - 1);
  }

  /** Streamed answers running now without a slot. */
  get count(): number {
    return this.running;
  }
}
