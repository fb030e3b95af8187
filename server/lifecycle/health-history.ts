/**
 * The health checks of one tunnel over the last 24 hours, in a ring buffer whose size follows
 * from the check interval, so memory stays bounded however long the server runs. Uptime and
 * incidents are derived from it when asked (a status read), not kept up to date per check.
 */

/** One health check: when, whether it passed, how long the round trip took, and why it failed. */
export interface HealthCheck {
  /** When the check finished, ms since epoch. */
  at: number;
  ok: boolean;
  /** Round trip server → client → local app → server, ms; null when no answer came. */
  latencyMs: number | null;
  error?: string;
}

/** A stretch of failed checks: from the first failure until the next check that passed. */
export interface HealthIncident {
  startedAt: number;
  /** When a check passed again; null while the incident lasts. */
  endedAt: number | null;
  /** The error of the first failed check. */
  cause: string;
}

/** How far back the history reaches. */
export const HEALTH_HISTORY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Upper bound of checks kept per tunnel (a 1 s interval for 24 h), whatever the interval. */
const MAX_HISTORY_ENTRIES = 86_400;

/**
 * Entries for 24 h of checks at `intervalMs`, plus a quarter of margin for checks that run
 * closer together than the interval. "Test now" checks are kept apart (health-monitor.ts).
 */
export function historyCapacityFor(intervalMs: number): number {
  const scheduled = Math.ceil(HEALTH_HISTORY_WINDOW_MS / Math.max(1, intervalMs));
  return Math.min(MAX_HISTORY_ENTRIES, Math.ceil(scheduled * 1.25) + 8);
}

export class HealthHistory {
  private readonly entries: (HealthCheck | undefined)[];
  private next = 0;
  private count = 0;
  /** Failed checks since the last one that passed. */
  consecutiveFailures = 0;
  /** When a check last passed (kept even after that check left the ring), ms since epoch. */
  lastHealthyAt: number | null = null;

  constructor(readonly capacity: number) {
    this.entries = new Array<HealthCheck | undefined>(capacity);
  }

  record(check: HealthCheck): void {
    this.entries[this.next] = check;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    if (check.ok) {
      this.consecutiveFailures = 0;
      this.lastHealthyAt = check.at;
    } else {
      this.consecutiveFailures++;
    }
  }

  /** Number of checks held (at most `capacity`). */
  get size(): number {
    return this.count;
  }

  /** The newest check, if any. */
  get last(): HealthCheck | undefined {
    return this.count === 0 ? undefined : this.entries[(this.next - 1 + this.capacity) % this.capacity];
  }

  /** Checks within the window before `now`, oldest first; the newest `limit` only when given. */
  checks(now = Date.now(), limit = Infinity): HealthCheck[] {
    const since = now - HEALTH_HISTORY_WINDOW_MS;
    const result: HealthCheck[] = [];
    for (let age = 0; age < this.count && result.length < limit; age++) {
      const check = this.entries[(this.next - 1 - age + 2 * this.capacity) % this.capacity]!;
      if (check.at < since) break;
      result.push(check);
    }
    return result.reverse();
  }

  /** Share of passed checks in the window, in percent with one decimal; null with no checks. */
  uptimePct(now = Date.now()): number | null {
    const checks = this.checks(now);
    if (checks.length === 0) return null;
    const passed = checks.filter((check) => check.ok).length;
    return Math.round((passed / checks.length) * 1000) / 10;
  }

  /** Incidents in the window, oldest first. */
  incidents(now = Date.now()): HealthIncident[] {
    const incidents: HealthIncident[] = [];
    let open: HealthIncident | undefined;
    for (const check of this.checks(now)) {
      if (!check.ok && !open) {
        open = { startedAt: check.at, endedAt: null, cause: check.error ?? 'check failed' };
        incidents.push(open);
      } else if (check.ok && open) {
        open.endedAt = check.at;
        open = undefined;
      }
    }
    return incidents;
  }
}

/** A check as another replica sent it or Redis kept it (JSON), or undefined when it is not one. */
export function parseHealthCheck(text: string): HealthCheck | undefined {
  try {
    const value = JSON.parse(text) as Partial<HealthCheck>;
    if (typeof value.at !== 'number' || typeof value.ok !== 'boolean') return undefined;
    const latencyMs = typeof value.latencyMs === 'number' ? value.latencyMs : null;
    return { at: value.at, ok: value.ok, latencyMs, ...(typeof value.error === 'string' ? { error: value.error.slice(0, 300) } : {}) };
  } catch {
    return undefined;
  }
}
