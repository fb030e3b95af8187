/**
 * One run of the tunnel, from run() to its end, as every part of the client sees it: whether
 * stop() was called, the waits (backoff, renewal retry) that stop() cuts short, and the one way
 * the run ends (a TunnelEnd, reported once).
 */

import { AuthRefusedError, SessionEndedError } from '#shared/errors';
import { delayUnlessWoken } from './wakeable-delay';

/** Why the tunnel stopped running. */
export type TunnelEnd =
  | { kind: 'stopped' }
  | { kind: 'session-ended'; error: SessionEndedError }
  | { kind: 'auth-refused'; error: AuthRefusedError }
  | { kind: 'config-refused'; error: Error }
  | { kind: 'connection-lost'; error: Error };

/** The failures that end a run (connection-failure.ts decides which those are). */
export type EndingAction = 'exit-auth' | 'exit-ended' | 'exit-config';

export class TunnelRun {
  private stopping = false;
  private finish: ((end: TunnelEnd) => void) | undefined;
  private readonly wake = new Set<() => void>();

  /** Whether stop() was called (Ctrl-C). */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** Whether the run is going: started and not ended yet. */
  get isRunning(): boolean {
    return this.finish !== undefined;
  }

  /** Starts the run; resolves with its end. */
  start(): Promise<TunnelEnd> {
    return new Promise((resolve) => {
      this.finish = (end) => {
        this.finish = undefined;
        resolve(end);
      };
    });
  }

  /** Ends the run (the first end wins; nothing happens before start() or after an end). */
  end(end: TunnelEnd): void {
    this.finish?.(end);
  }

  /** Ends the run for a failure classified as ending it. */
  endFor(error: Error, action: EndingAction): void {
    if (action === 'exit-auth') this.end({ kind: 'auth-refused', error: error as AuthRefusedError });
    else if (action === 'exit-ended') this.end({ kind: 'session-ended', error: error as SessionEndedError });
    else this.end({ kind: 'config-refused', error });
  }

  /** Marks the run as stopping and wakes every sleep(). */
  stop(): void {
    this.stopping = true;
    for (const wake of this.wake) wake();
  }

  /** Waits `ms`, or less when stop() is called meanwhile. */
  sleep(ms: number): Promise<void> {
    return delayUnlessWoken(ms, this.wake);
  }
}
