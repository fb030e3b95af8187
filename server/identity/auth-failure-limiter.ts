/**
 * Failed authentications per source address: past MAX_FAILURES within WINDOW_MS, that source
 * gets 429 without its credential being looked at, so guessing tokens is slow. Bounded: at most
 * MAX_SOURCES addresses are remembered, the oldest forgotten first.
 */

/** Failed attempts a source may make per window. */
export const MAX_AUTH_FAILURES = 20;

/** The window the failures count in. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;

const MAX_SOURCES = 10_000;

interface FailureCount {
  count: number;
  windowStartedAt: number;
}

export class AuthFailureLimiter {
  private readonly bySource = new Map<string, FailureCount>();

  constructor(
    private readonly maxFailures = MAX_AUTH_FAILURES,
    private readonly windowMs = AUTH_FAILURE_WINDOW_MS,
  ) {}

  /** Whether `source` has used up its failures for now. */
  isBlocked(source: string, now = Date.now()): boolean {
    const entry = this.bySource.get(source);
    if (!entry) return false;
    if (now - entry.windowStartedAt >= this.windowMs) {
      this.bySource.delete(source);
      return false;
    }
    return entry.count >= this.maxFailures;
  }

  /** Counts one failure of `source`. */
  recordFailure(source: string, now = Date.now()): void {
    const entry = this.bySource.get(source);
    if (entry && now - entry.windowStartedAt < this.windowMs) {
      entry.count++;
      return;
    }
    this.bySource.delete(source);
    if (this.bySource.size >= MAX_SOURCES) this.bySource.delete(this.bySource.keys().next().value as string);
    this.bySource.set(source, { count: 1, windowStartedAt: now });
  }

  /** Seconds until `source` may try again. */
  retryAfterSeconds(source: string, now = Date.now()): number {
    const entry = this.bySource.get(source);
    return entry ? Math.max(1, Math.ceil((entry.windowStartedAt + this.windowMs - now) / 1000)) : 1;
  }
}
