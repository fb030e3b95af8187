/**
 * Warns the developer once, EXPIRY_WARNING_LEAD_MS before the tunnel expires, so a demo does not
 * end by surprise. Re-armed on every registration (a renewed tunnel has a new expiry).
 */

/** How long before expiry the warning comes. */
export const EXPIRY_WARNING_LEAD_MS = 10 * 60 * 1000;

export class ExpiryWarning {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly warn: (expiresAt: Date) => void) {}

  /** Schedules the warning for the expiry `expiresAt` (at once when less than the lead is left). */
  arm(expiresAt: string, now = Date.now()): void {
    this.cancel();
    const expiry = new Date(expiresAt);
    const delayMs = Math.max(0, expiry.getTime() - EXPIRY_WARNING_LEAD_MS - now);
    // setTimeout overflows past ~24.8 days; no tunnel lives that long, but a clock jump must not fire early.
    if (delayMs > 2 ** 31 - 1) return;
    this.timer = setTimeout(() => this.warn(expiry), delayMs);
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
