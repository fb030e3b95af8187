/**
 * How long the client waits before each reconnect attempt: exponential backoff from 1 s,
 * doubling up to --max-reconnect-delay, with ±25% jitter so that many clients cut off by the
 * same server restart do not all come back in the same instant. Pure: the random source is
 * injected, so tests can pin it.
 */

/** Delay before the first attempt after a loss, ms. */
export const FIRST_RECONNECT_DELAY_MS = 1_000;

/** Fraction of the delay the jitter may add or take away. */
export const RECONNECT_JITTER = 0.25;

export class ReconnectBackoff {
  private attempt = 0;

  constructor(
    private readonly maxDelayMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt, ms; each call doubles the base up to the cap. */
  next(): number {
    const base = Math.min(FIRST_RECONNECT_DELAY_MS * 2 ** Math.min(this.attempt, 30), this.maxDelayMs);
    this.attempt++;
    return withJitter(base, this.random());
  }

  /** A successful registration starts the next loss from 1 s again. */
  reset(): void {
    this.attempt = 0;
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }
}

/** `baseMs` moved by up to ±25%, `unit` being a number in [0, 1). */
export function withJitter(baseMs: number, unit: number): number {
  return Math.round(baseMs * (1 - RECONNECT_JITTER + 2 * RECONNECT_JITTER * unit));
}
