/**
 * The last requests of one tunnel, for the dashboard and GET /_standin/api/tunnels/<name>/requests:
 * enough for an operator to match a user's complaint ("it failed at 14:02 on /cart") to a
 * request id, then grep the logs for it. A fixed-size ring, so it never grows.
 */

import { performance } from 'node:perf_hooks';
import type { BrowserRequest } from '../core/browser-request';

/** How many requests each tunnel remembers. */
export const RECENT_REQUESTS_PER_TUNNEL = 50;

/** One finished browser request, as the status API and the dashboard show it. */
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

/**
 * A finished request as kept in the ring: the raw facts, turned into a RecentRequest (path cut
 * from the URL, ISO time) only when someone asks, since most entries are overwritten unread.
 */
export interface RecentRequestFacts {
  id: string;
  method: string;
  url: string;
  status: number;
  durationMs: number;
  /** Arrival, ms since epoch. */
  startedAtMs: number;
  error?: string;
}

export class RecentRequests {
  private readonly ring: RecentRequestFacts[] = [];
  private next = 0;

  constructor(private readonly capacity = RECENT_REQUESTS_PER_TUNNEL) {}

  /** Keeps a finished request's facts (turned into a RecentRequest when listed). */
  add(request: RecentRequestFacts): void {
    if (this.ring.length < this.capacity) this.ring.push(request);
    else this.ring[this.next] = request;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first. */
  list(): RecentRequest[] {
    const oldestFirst = this.ring.length < this.capacity ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return oldestFirst.map(toRecentRequest).reverse();
  }
}

/** The facts of a finished browser request, for its tunnel's ring. */
export function recentRequestOf(request: BrowserRequest): RecentRequestFacts {
  const durationMs = performance.now() - request.receivedAt;
  const facts: RecentRequestFacts = {
    id: request.id,
    method: request.req.method ?? 'GET',
    url: request.req.url ?? '/',
    status: request.res.statusCode,
    durationMs,
    startedAtMs: Date.now() - durationMs,
  };
  if (request.errorCode) facts.error = request.errorCode;
  return facts;
}

export function toRecentRequest(facts: RecentRequestFacts): RecentRequest {
  return {
    id: facts.id,
    method: facts.method,
    path: facts.url.split('?')[0].slice(0, 500),
    status: facts.status,
    durationMs: Math.round(facts.durationMs * 10) / 10,
    startedAt: new Date(facts.startedAtMs).toISOString(),
    ...(facts.error ? { error: facts.error } : {}),
  };
}
