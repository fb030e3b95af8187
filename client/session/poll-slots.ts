/**
 * One poll slot of the --concurrency the tunnel keeps open: poll; serve what the answer brings
 * (its respond POST brings the next answer); repeat. On a failure it decides, with
 * connection-failure.ts, whether to poll again, renew, wait for a reconnect, or end the run.
 */

import { BadPollAnswerError, SessionEndedError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import { classifyFailure, type FailedCall } from './connection-failure';
import type { Registration } from './registration';
import type { PollAnswer } from './server-connection';
import type { TunnelRun } from './tunnel-run';

/** A poll answer that brings work: a request, a batch of them, or a health probe. */
export type WorkAnswer = Exclude<PollAnswer, { kind: 'idle' }>;

export interface PollSlotOptions {
  name: string;
  logger: Logger;
  /** --renew: an expired tunnel registers again instead of ending. */
  renew: boolean;
  run: TunnelRun;
  registration: Pick<Registration, 'generation' | 'session' | 'isAboutAnOldSession' | 'renew' | 'reconnectAfter'>;
  /** Sends an empty poll on session `sessionId`. */
  poll(sessionId: string): Promise<PollAnswer>;
  /** Serves what `answer` brought, answering on session `sessionId`; resolves with the next poll answer. */
  serve(answer: WorkAnswer, sessionId: string): Promise<PollAnswer>;
}

/** Runs one poll slot until the run stops or ends. */
export async function runPollSlot(slot: PollSlotOptions): Promise<void> {
  const { run, registration } = slot;
  let answer: PollAnswer | undefined;
  // The session whose poll brought `answer`: only that session may respond to it.
  let answerSession = '';
  // Whether this slot's last call failed: a second failure in a row is not polled again at once.
  let lastCallFailed = false;
  // A request already taken is served even while stopping: the browser is waiting for it.
  while (!run.isStopping || answer?.kind === 'request' || answer?.kind === 'batch') {
    const generation = registration.generation;
    const work = answer?.kind === 'idle' ? undefined : answer;
    const call: FailedCall = work ? 'respond' : 'poll';
    const sessionId = work ? answerSession : registration.session().sessionId;
    try {
      answer = work ? await slot.serve(work, sessionId) : await slot.poll(sessionId);
      answerSession = sessionId;
      lastCallFailed = false;
    } catch (error) {
      const failedBefore = lastCallFailed;
      lastCallFailed = true;
      answer = undefined;
      if (run.isStopping) return;
      // The answer of a session a reconnect or renewal has already replaced (or is replacing
      // right now): poll on the new one.
      if (await registration.isAboutAnOldSession(error, generation, sessionId)) continue;
      if (error instanceof SessionEndedError && error.reason === 'expired' && slot.renew) {
        await registration.renew();
        continue;
      }
      if (!(await actOnFailure(slot, error, call, failedBefore))) return;
    }
  }
}

/** Acts on a failed poll or respond; false when the tunnel is over. */
async function actOnFailure(slot: PollSlotOptions, error: unknown, call: FailedCall, failedBefore: boolean): Promise<boolean> {
  const { name, logger, run } = slot;
  const classified = classifyFailure(error, call);
  const action = classified === 'poll-again' && failedBefore ? 'reconnect' : classified;
  switch (action) {
    case 'exit-auth':
    case 'exit-ended':
    case 'exit-config':
      run.endFor(error as Error, action);
      return false;
    case 'poll-again':
      if (error instanceof BadPollAnswerError) logger.warn('poll answer lost, polling again', { tunnel: name, error: error.message });
      else logger.debug('respond failed, polling again', { tunnel: name, error: (error as Error).message });
      return true;
    case 'reconnect':
    case 'reconnect-soon':
      await slot.registration.reconnectAfter(error as Error);
      return !run.isStopping && run.isRunning;
    default: {
      const unhandled: never = action;
      throw new Error(`unhandled failure action ${String(unhandled)}`);
    }
  }
}
