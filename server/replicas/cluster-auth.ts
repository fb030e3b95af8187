/**
 * Pod-to-pod calls between replicas carry an HMAC of (time, nonce, method, path) under the
 * cluster secret (--cluster-secret), so only replicas can use the internal port: it trusts what
 * the caller says about the browser (its address, its proxy's headers) and skips client tokens,
 * because the calling replica checked them. A signature is valid for MAX_CLOCK_SKEW_MS either
 * way and once only: the receiving replica remembers the nonces it accepted for as long as they
 * are fresh, so a signature read off the wire cannot be sent again (with other headers or another
 * body). Bodies are not signed (they stream), which is why the internal port must stay on the
 * cluster network (the k8s/ha NetworkPolicy).
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { randomHex } from '#shared/random-ids';

/** The header that carries the signature. */
export const CLUSTER_AUTH_HEADER = 'x-standin-cluster-auth';

/** How far apart two replicas' clocks and a call's transit may be. */
const MAX_CLOCK_SKEW_MS = 30_000;

/** `<ms since epoch>.<nonce: 32 hex digits>.<HMAC-SHA256: 64 hex digits>` */
const SIGNATURE = /^(\d{1,16})\.([0-9a-f]{32})\.([0-9a-f]{64})$/;

/** The header value for a call of `method` on `path`. */
export function signClusterCall(secret: string, method: string, path: string, now = Date.now()): string {
  const nonce = randomHex(16);
  return `${now}.${nonce}.${digest(secret, now, nonce, method, path)}`;
}

/** Checks the signatures of calls to this replica, each accepted once. */
export class ClusterCallCheck {
  /** Nonces accepted while their signature is fresh -> the signature's time, in arrival order. */
  private readonly accepted = new Map<string, number>();

  constructor(private readonly secret: string) {}

  /** Whether `header` is a fresh signature of this call, not seen before. */
  verify(header: string | string[] | undefined, method: string, path: string, now = Date.now()): boolean {
    if (typeof header !== 'string') return false;
    const match = SIGNATURE.exec(header);
    if (!match) return false;
    const at = Number(match[1]);
    const nonce = match[2];
    if (Math.abs(now - at) > MAX_CLOCK_SKEW_MS) return false;
    const expected = Buffer.from(digest(this.secret, at, nonce, method, path), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(match[3], 'hex'))) return false;
    this.forgetStale(now);
    if (this.accepted.has(nonce)) return false;
    this.accepted.set(nonce, at);
    return true;
  }

  /**
   * Drops nonces whose signatures are too old to pass the time check anyway, oldest first, so
   * the memory holds at most MAX_CLOCK_SKEW_MS * 2 of calls (arrival order is close to time order).
   */
  private forgetStale(now: number): void {
    for (const [nonce, at] of this.accepted) {
      if (now - at <= MAX_CLOCK_SKEW_MS) return;
      this.accepted.delete(nonce);
    }
  }
}

function digest(secret: string, at: number, nonce: string, method: string, path: string): string {
  return createHmac('sha256', secret).update(`${at}\n${nonce}\n${method}\n${path}`).digest('hex');
}
