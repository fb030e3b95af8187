/**
 * Pod-to-pod calls between replicas carry an HMAC of (time, method, path) under the cluster
 * secret (--cluster-secret), so only replicas can use the internal port: it trusts what the
 * caller says about the browser (its address, its proxy's headers) and skips client tokens,
 * because the calling replica checked them. A signature is valid for MAX_CLOCK_SKEW_MS either
 * way; bodies are not signed (they stream), which is why the internal port must stay on the
 * cluster network (the k8s/ha NetworkPolicy).
 */

import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header that carries the signature. */
export const CLUSTER_AUTH_HEADER = 'x-standin-cluster-auth';

/** How far apart two replicas' clocks and a call's transit may be. */
const MAX_CLOCK_SKEW_MS = 30_000;

/** The header value for a call of `method` on `path`. */
export function signClusterCall(secret: string, method: string, path: string, now = Date.now()): string {
  return `${now}.${digest(secret, now, method, path)}`;
}

/** Whether `header` is a fresh signature of this call. */
export function verifyClusterCall(secret: string, header: string | string[] | undefined, method: string, path: string, now = Date.now()): boolean {
  if (typeof header !== 'string') return false;
  const match = /^(\d{1,16})\.([0-9a-f]{64})$/.exec(header);
  if (!match) return false;
  const at = Number(match[1]);
  if (Math.abs(now - at) > MAX_CLOCK_SKEW_MS) return false;
  const expected = Buffer.from(digest(secret, at, method, path), 'hex');
  return timingSafeEqual(expected, Buffer.from(match[2], 'hex'));
}

function digest(secret: string, at: number, method: string, path: string): string {
  return createHmac('sha256', secret).update(`${at}\n${method}\n${path}`).digest('hex');
}
