/**
 * The last requests of one tunnel, for the dashboard and GET /_standin/api/tunnels/<name>/requests:
 * enough for an operator to match a user's complaint ("it failed at 14:02 on /cart") to a
 * request id, then grep the logs for it. A fixed-size ring, so it never grows.
 */

import { performance } from 'node:perf_hooks';
import type { BrowserRequest } from './browser-request';

/** How many requests each tunnel remembers. */
export const RECENT_REQUESTS_PER_TUNNEL = 50;

/** One finished browser request, as the control API shows it. */
export interface RecentRequest {
  id: string;
  method: string;
  /** The path without its query string: queries often carry tokens, and this API needs no token. */
  path: string;
  status: number;
  durationMs: number;
  /** ISO time the request arrived. */
  startedAt: string;
  /** Set when standin answered instead of the app. */
  error?: string;
}

export class RecentRequests {
  private readonly ring: RecentRequest[] = [];
  private next = 0;

  constructor(private readonly capacity = RECENT_REQUESTS_PER_TUNNEL) {}

  add(request: RecentRequest): void {
    if (this.ring.length < this.capacity) this.ring.push(request);
    else this.ring[this.next] = request;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first. */
  list(): RecentRequest[] {
    const oldestFirst = this.ring.length < this.capacity ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return oldestFirst.slice().reverse();
  }
}

/** The entry for a finished browser request. */
export function recentRequestOf(request: BrowserRequest): RecentRequest {
  const durationMs = performance.now() - request.receivedAt;
  return {
    id: request.id,
    method: request.req.method ?? 'GET',
    path: (request.req.url ?? '/').split('?')[0].slice(0, 500),
    status: request.res.statusCode,
    durationMs: Math.round(durationMs * 10) / 10,
    startedAt: new Date(Date.now() - durationMs).toISOString(),
    ...(request.errorCode ? { error: request.errorCode } : {}),
  };
}
