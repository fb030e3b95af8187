/**
 * The requests (and streamed responses) the client is serving right now: a graceful stop lets
 * them finish for a while, and Ctrl-C says how many it waits for.
 */

import { delayUnlessWoken } from './wakeable-delay';

export class RequestsInProgress {
  private serving = 0;
  private readonly allDone = new Set<() => void>();

  /** How many are being served now. */
  get count(): number {
    return this.serving;
  }

  /** Counts `work` as a request being served until it settles. */
  async track<T>(work: Promise<T>): Promise<T> {
    this.serving++;
    try {
      return await work;
    } finally {
      this.serving--;
      if (this.serving === 0) for (const done of this.allDone) done();
    }
  }

  /** Resolves when no request is being served, or after `timeoutMs`. */
  finished(timeoutMs: number): Promise<void> {
    if (this.serving === 0) return Promise.resolve();
    return delayUnlessWoken(timeoutMs, this.allDone);
  }
}
