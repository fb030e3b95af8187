/**
 * Sends the app's answers back to the server: one answer in a respond POST, several complete
 * ones in a respond-to-several POST, a streamed one on a place of its own when one is free
 * (streaming-answers.ts), and the final answer after interim responses on the POST they started
 * (early-respond-post.ts). A respond POST is normally the slot's next poll, so each send resolves
 * with the next poll answer (idle when the POST went out not-a-poll).
 */

import type { Logger } from '#shared/logger';
import type { RegisterResponse } from '#shared/protocol/messages';
import { serverHasFeature } from '#shared/protocol/version';
import { answerBody, declaredContentLength, type AppAnswer, type StreamingAnswer } from '../forwarding/app-answer';
import { BrowserLeftError } from '../forwarding/browser-left-error';
import { EarlyRespondPost } from './early-respond-post';
import type { RequestsInProgress } from './requests-in-progress';
import type { CompleteAnswer } from '../forwarding/app-answer';
import type { PollAnswer, ServerConnection } from './server-connection';
import { StreamingAnswers } from './streaming-answers';

export interface AnswerSenderOptions {
  connection: ServerConnection;
  name: string;
  logger: Logger;
  /** A POST that runs on by itself still counts as a request being served (a graceful stop waits for it). */
  inProgress: RequestsInProgress;
  /** The current registration answer, for the protocol features the server has. */
  registered: () => RegisterResponse | undefined;
}

export class AnswerSender {
  /** Streamed answers going out without holding a poll slot (an event stream may flow for hours). */
  private readonly streamingAnswers = new StreamingAnswers();

  constructor(private readonly options: AnswerSenderOptions) {}

  /**
   * Sends one answer in a respond POST; resolves with the next poll answer (idle when `notAPoll`).
   * A streamed answer leaves its slot when a place is free (streaming-answers.ts): its POST goes
   * out not-a-poll and runs on by itself, and this resolves idle at once, so the slot polls again.
   */
  send(answer: AppAnswer, sessionId: string, notAPoll = false): Promise<PollAnswer> {
    const { connection, name, logger, inProgress } = this.options;
    if (answer.kind === 'complete') return connection.respond(name, sessionId, answer.id, answer.meta, answer.body, { notAPoll });
    if (notAPoll || !this.streamingAnswers.tryTake()) return this.sendStreamed(answer, sessionId, notAPoll);
    const streamed = this.sendStreamed(answer, sessionId, true).finally(() => this.streamingAnswers.release());
    // Still a request being served: a graceful stop lets it finish like any other.
    inProgress
      .track(streamed)
      .catch((error: Error) =>
        logger.debug('a streamed response could not be sent', { requestId: answer.id, tunnel: name, error: error.message }),
      );
    return Promise.resolve({ kind: 'idle' });
  }

  /** Sends several complete answers in one respond-to-several POST. */
  sendGroup(answers: CompleteAnswer[], sessionId: string, notAPoll: boolean): Promise<PollAnswer> {
    const responses = answers.map((answer) => ({ ...answer.meta, id: answer.id, bodyBytes: answer.body?.length ?? 0 }));
    const bodies = Buffer.concat(answers.flatMap((answer) => (answer.body ? [answer.body] : [])));
    return this.options.connection.respondToSeveral(this.options.name, sessionId, responses, bodies, { notAPoll });
  }

  /**
   * Where the app's interim (1xx) responses to request `id` go: a respond POST started at the
   * first of them (early-respond-post.ts), which then carries the final answer too. It goes
   * not-a-poll on a streaming place, as a streamed answer does, since its final answer may be an
   * event stream; interims that come while every place is taken are dropped, as is every interim
   * with a server from before interim responses (undefined then).
   */
  earlyPostFor(id: string, sessionId: string): EarlyRespondPost | undefined {
    const { connection, name } = this.options;
    if (!serverHasFeature(this.options.registered(), 'interim-responses')) return undefined;
    return new EarlyRespondPost((framedBody) => {
      if (!this.streamingAnswers.tryTake()) return undefined;
      return connection.respondFramed(name, sessionId, id, framedBody, { notAPoll: true }).finally(() => this.streamingAnswers.release());
    });
  }

  /** Sends the final answer on the POST its interims started; that POST runs on by itself, and the slot polls again. */
  finishEarly(early: EarlyRespondPost, answer: AppAnswer): PollAnswer {
    const { name, logger, inProgress } = this.options;
    const body = answer.kind === 'complete' ? answer.body : answer.hasBody ? answerBody(answer) : null;
    const sent = early.finish(answer.meta, body).catch((error: Error) => {
      if (answer.kind === 'streaming') answer.response.body.destroy(new BrowserLeftError({ cause: error }));
      throw error;
    });
    inProgress
      .track(sent)
      .catch((error: Error) =>
        logger.debug('a response after interim responses could not be sent', { requestId: answer.id, tunnel: name, error: error.message }),
      );
    return { kind: 'idle' };
  }

  /** Streams the app's body in a respond POST; the app's response is dropped when the POST fails. */
  private async sendStreamed(answer: StreamingAnswer, sessionId: string, notAPoll: boolean): Promise<PollAnswer> {
    const { response, hasBody } = answer;
    try {
      return await this.options.connection.respond(
        this.options.name,
        sessionId,
        answer.id,
        answer.meta,
        hasBody ? answerBody(answer) : null,
        {
          contentLength: hasBody && !answer.meta.trailersFollow ? declaredContentLength(response) : undefined,
          notAPoll,
        },
      );
    } catch (error) {
      // The POST was cut from the server's side: the app's response is no longer wanted.
      response.body.destroy(new BrowserLeftError({ cause: error }));
      throw error;
    }
  }
}
