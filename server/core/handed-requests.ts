/**
 * Browser requests handed to a client session and not yet answered, by request id. The
 * respond route looks requests up here, so an answer is accepted only for a request that is
 * still waiting, and only from the session it was handed to.
 */

import type { BrowserRequest } from './browser-request';

export class HandedRequests {
  private readonly byId = new Map<string, BrowserRequest>();

  add(request: BrowserRequest): void {
    this.byId.set(request.id, request);
  }

  get(id: string): BrowserRequest | undefined {
    return this.byId.get(id);
  }

  remove(id: string): void {
    this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** The handed requests of one session (to fail them when that session dies). */
  ofSession(sessionId: string): BrowserRequest[] {
    return [...this.byId.values()].filter((request) => request.sessionId === sessionId);
  }
}
