/**
 * What a poll slot does with the work a poll answer brings: a request is replayed against the
 * app (or opened as an upgrade) and answered; a batch of bodiless requests is replayed at once
 * and answered in as few POSTs as fit; a health probe checks the app. Each resolves with the
 * slot's next poll answer.
 */

import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from '#shared/logger';
import type { ProbeMeta, ProbeResultMeta, RequestMeta } from '#shared/protocol/messages';
import { serverHasFeature } from '#shared/protocol/version';
import type { ClientConfig } from '../cli/config';
import { checkApp } from '../forwarding/app-health-check';
import { answerFromApp, type AppAnswer } from '../forwarding/app-answer';
import type { EarlyRespondPost } from './early-respond-post';
import type { UpgradeForwarder } from '../forwarding/forward-upgrade';
import type { RequestObserver } from '../inspector/request-capture';
import type { AnswerSender } from './answer-sender';
import type { WorkAnswer } from './poll-slots';
import type { Registration } from './registration';
import type { RequestsInProgress } from './requests-in-progress';
import { ResponseGroup } from './response-group';
import type { PollAnswer, ServerConnection } from './server-connection';

export interface RequestServingOptions {
  config: ClientConfig;
  name: string;
  logger: Logger;
  connection: ServerConnection;
  /** The local app's connection pool. */
  app: Dispatcher;
  upgrades: UpgradeForwarder;
  answers: AnswerSender;
  inProgress: RequestsInProgress;
  registration: Pick<Registration, 'current' | 'session'>;
  /** Bytes of each body kept for the inspector's preview (0 without an inspector). */
  previewCapBytes: number;
  /** Gets the record of each finished request (terminal, log file, inspector). */
  report: RequestObserver;
}

export class RequestServing {
  constructor(private readonly options: RequestServingOptions) {}

  /** Serves what `work` brought, answering on session `sessionId`; resolves with the next poll answer. */
  serve(work: WorkAnswer, sessionId: string): Promise<PollAnswer> {
    switch (work.kind) {
      case 'request':
        return this.options.inProgress.track(this.serveRequest(work.meta, work.body, sessionId));
      case 'batch':
        return this.serveBatch(work.requests, sessionId);
      case 'probe':
        return this.answerProbe(work.meta, sessionId);
      default: {
        const unhandled: never = work;
        throw new Error(`unhandled poll answer ${JSON.stringify(unhandled)}`);
      }
    }
  }

  /** Replays one request against the app and answers it. */
  private async serveRequest(meta: RequestMeta, body: Readable, sessionId: string): Promise<PollAnswer> {
    const { upgrades, answers, registration } = this.options;
    if (meta.upgrade) return upgrades.serve(meta, body, sessionId, registration.session().requestTimeoutMs);
    const early = answers.earlyPostFor(meta.id, sessionId);
    const answer = await this.forward(meta, body, early);
    if (early?.started) return answers.finishEarly(early, answer);
    return answers.send(answer, sessionId);
  }

  /**
   * Replays a batch of bodiless requests at once. Complete answers that arrive together share one
   * POST (ResponseGroup); a streamed response goes on its own. The first POST carries on as this
   * slot's poll; the others are marked not-a-poll, so the slot count stays at --concurrency.
   */
  private serveBatch(requests: RequestMeta[], sessionId: string): Promise<PollAnswer> {
    const { answers, inProgress, logger, name } = this.options;
    return new Promise((continueSlot, failSlot) => {
      let slotContinued = false;
      const posts: Promise<unknown>[] = [];
      const post = (send: (notAPoll: boolean) => Promise<PollAnswer>) => {
        const first = !slotContinued;
        slotContinued = true;
        const answer = send(!first);
        if (first) answer.then(continueSlot, failSlot);
        posts.push(
          answer.catch((error: Error) => {
            if (!first) logger.debug('a response of a batch could not be sent', { tunnel: name, error: error.message });
          }),
        );
      };
      const group = new ResponseGroup(requests.length, (grouped) =>
        post((notAPoll) =>
          grouped.length === 1 ? answers.send(grouped[0], sessionId, notAPoll) : answers.sendGroup(grouped, sessionId, notAPoll),
        ),
      );
      const served = requests.map(async (meta) => {
        const early = answers.earlyPostFor(meta.id, sessionId);
        const answer = await this.forward(meta, null, early);
        if (early?.started) {
          group.answeredAlone();
          answers.finishEarly(early, answer);
        } else if (answer.kind === 'complete' && ResponseGroup.accepts(answer)) {
          group.add(answer);
        } else {
          group.answeredAlone();
          post((notAPoll) => answers.send(answer, sessionId, notAPoll));
        }
      });
      const allServed = Promise.all(served).then(() => {
        // Every answer went on a POST of its own started by interim responses: the slot polls again.
        if (!slotContinued) {
          slotContinued = true;
          continueSlot({ kind: 'idle' });
        }
      });
      void inProgress.track(allServed.then(() => Promise.all(posts)));
    });
  }

  /** Answers a health probe after checking the local app; not a request, so not in the request log. */
  private async answerProbe(probe: ProbeMeta, sessionId: string): Promise<PollAnswer> {
    const { config, app, connection, logger, name } = this.options;
    const startedAt = performance.now();
    const result = await checkApp(config.target, app, config.healthPath);
    const meta: ProbeResultMeta = {
      kind: 'probe-result',
      ok: result.ok,
      appMs: performance.now() - startedAt,
      ...(result.error ? { error: result.error } : {}),
    };
    logger.debug('answered health probe', { tunnel: name, ok: result.ok, error: result.error });
    return connection.respond(name, sessionId, probe.id, meta, null);
  }

  /** Replays one request against the app (forwarding/app-answer.ts); its interims go to `early`. */
  private forward(meta: RequestMeta, body: Readable | null, early: EarlyRespondPost | undefined): Promise<AppAnswer> {
    const { config, app, name, logger, registration, previewCapBytes, report } = this.options;
    return answerFromApp(meta, body, {
      app,
      name,
      logger,
      report,
      target: config.target,
      preserveHost: config.preserveHost,
      headersTimeoutMs: registration.session().requestTimeoutMs,
      previewCapBytes,
      serverTakesStreamedTrailers: () => serverHasFeature(registration.current, 'streamed-trailers'),
      ...(early ? { onInterim: (interim) => early.interim(interim) } : {}),
    });
  }
}
