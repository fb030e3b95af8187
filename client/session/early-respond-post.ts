/**
 * A respond POST started before the app's final response head, to carry the app's interim (1xx)
 * responses to the browser as they come (protocol feature `interim-responses`): 103 Early Hints
 * is only worth something while the app is still working on the final answer. The POST body is
 * the interim frames, then the answer's own frame and body (shared/protocol/messages.ts).
 */

import { PassThrough, type Readable } from 'node:stream';
import { MAX_INTERIM_RESPONSES } from '#shared/protocol/limits';
import { encodeMeta } from '#shared/protocol/message-codecs';
import type { InterimResponseMeta, ResponseMeta } from '#shared/protocol/messages';
import { encodeFrame } from '#shared/protocol/wire-frame';
import type { PollAnswer } from './server-connection';

/** Starts the POST with `body` as its framed body; undefined when it cannot be started now. */
export type StartRespondPost = (body: Readable) => Promise<PollAnswer> | undefined;

export class EarlyRespondPost {
  private body: PassThrough | undefined;
  private sent: Promise<PollAnswer> | undefined;
  /** Set when the POST could not be started: the interims are dropped and the answer goes the usual way. */
  private refused = false;
  private interims = 0;

  constructor(private readonly start: StartRespondPost) {}

  /** Whether the POST went out (the final answer must then follow on it). */
  get started(): boolean {
    return this.sent !== undefined;
  }

  /** An interim response of the app: the first starts the POST; past MAX_INTERIM_RESPONSES they are dropped. */
  interim(meta: InterimResponseMeta): void {
    // 100 Continue is the server's own business, 101 only ends an upgrade handshake.
    if (this.refused || this.interims >= MAX_INTERIM_RESPONSES || meta.status < 102 || meta.status > 199) return;
    if (!this.body) {
      const body = new PassThrough();
      const sent = this.start(body);
      if (!sent) {
        this.refused = true;
        return;
      }
      // The POST may fail before the final answer is there (the browser left): that is seen in finish().
      sent.catch(() => undefined);
      body.on('error', () => undefined);
      this.body = body;
      this.sent = sent;
    }
    this.interims++;
    if (!this.body.destroyed) this.body.write(encodeFrame(encodeMeta(meta)));
  }

  /**
   * Sends the final answer after the interims; resolves like a respond POST, rejects when the POST
   * failed. Only after started.
   */
  finish(meta: ResponseMeta, answerBody: Buffer | Readable | null): Promise<PollAnswer> {
    const { body, sent } = this;
    if (!body || !sent) return Promise.reject(new Error('no early respond POST was started'));
    if (!body.destroyed) {
      body.write(encodeFrame(encodeMeta(meta)));
      if (answerBody === null || Buffer.isBuffer(answerBody)) body.end(answerBody ?? undefined);
      else {
        answerBody.once('error', (error) => body.destroy(error));
        // The app's response is abandoned when the POST is (browser gone, server cut it).
        body.once('close', () => {
          if (!answerBody.readableEnded) answerBody.destroy();
        });
        answerBody.pipe(body);
      }
    } else if (answerBody !== null && !Buffer.isBuffer(answerBody)) answerBody.destroy();
    return sent;
  }
}
