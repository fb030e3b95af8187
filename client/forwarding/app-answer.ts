/**
 * One request replayed against the local app and turned into the answer that goes back to the
 * server, recorded on the way (terminal, log file, inspector): complete when the app failed or
 * its whole body arrived with the head (the usual case for a small response), streaming
 * otherwise. A failing app is an answer too.
 */

import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { getHeader } from '#shared/http-headers';
import type { Logger } from '#shared/logger';
import type { AppResponseMeta, InterimResponseMeta, RawHeaders, RequestMeta, ResponseMeta } from '#shared/protocol/messages';
import { RequestCapture, type RequestObserver } from '../inspector/request-capture';
import { chunkedAnswerBody } from './chunked-answer-body';
import { AppRequestError, forwardRequest, hasNoBody, type AppResponse } from './forward-request';
import { toBrowserHeaders } from './response-headers';

/** What the app answered to one request, ready to go back to the server. */
export type AppAnswer = CompleteAnswer | StreamingAnswer;

/** An answer whose body is all here: a failure (no body) or a response with its whole body. */
export interface CompleteAnswer {
  kind: 'complete';
  id: string;
  meta: ResponseMeta;
  body: Buffer | null;
}

/** An answer whose body is still coming from the app. */
export interface StreamingAnswer {
  kind: 'streaming';
  id: string;
  meta: AppResponseMeta;
  response: AppResponse;
  hasBody: boolean;
}

/** What answerFromApp needs from the running tunnel. */
export interface AppAnswerOptions {
  app: Dispatcher;
  name: string;
  target: URL;
  preserveHost: boolean;
  /** How long to wait for the app's response head (the server's request timeout). */
  headersTimeoutMs: number;
  /** Bytes of each body kept for the inspector's preview (0 without an inspector). */
  previewCapBytes: number;
  /** Whether the server takes trailers after a streamed body (protocol feature `streamed-trailers`), asked when the head is in. */
  serverTakesStreamedTrailers: () => boolean;
  /** Sees each interim (1xx) response of the app (early-respond-post.ts). */
  onInterim?: (interim: InterimResponseMeta) => void;
  /** Gets the record of the request once it is over. */
  report: RequestObserver;
  logger: Logger;
}

/** Sends one request to the app and records it; resolves with its answer, never rejects. */
export async function answerFromApp(meta: RequestMeta, body: Readable | null, options: AppAnswerOptions): Promise<AppAnswer> {
  const { name, target, report, logger } = options;
  const startedAt = performance.now();
  const capture = new RequestCapture(meta, name, {
    previewCapBytes: options.previewCapBytes,
    hostSentToApp: options.preserveHost ? undefined : target.host,
  });
  // The poll answer's body breaks when the server cuts it (the browser left mid-upload, the
  // request timed out, the connection dropped): the app request is aborted through the body it
  // reads, and this listener keeps the break from being an uncaught 'error'.
  body?.on('error', (error) =>
    logger.debug('request body from the server broke', { requestId: meta.id, tunnel: name, error: error.message }),
  );
  if (body && !meta.hasBody) body.resume();
  let response: AppResponse;
  try {
    response = await forwardRequest(options.app, meta, body && meta.hasBody ? capture.tapRequestBody(body) : null, {
      target,
      preserveHost: options.preserveHost,
      headersTimeoutMs: options.headersTimeoutMs,
      onResponseChunk: (chunk) => capture.responseChunk(chunk),
      ...(options.onInterim ? { onInterim: options.onInterim } : {}),
    });
  } catch (error) {
    const failure = error instanceof AppRequestError ? error : new AppRequestError('app_error', (error as Error).message, { cause: error });
    body?.destroy();
    const appMs = performance.now() - startedAt;
    report(capture.failed(failure.failure, failure.message));
    logger.debug('app request failed', { requestId: meta.id, tunnel: name, error: failure.message });
    return { kind: 'complete', id: meta.id, meta: { kind: 'failure', code: failure.failure, message: failure.message, appMs }, body: null };
  }
  const answered: AppResponseMeta = {
    kind: 'response',
    status: response.status,
    headers: toBrowserHeaders(response.headers, meta.headers, target),
    appMs: performance.now() - startedAt,
    ...(response.statusMessage ? { statusMessage: response.statusMessage } : {}),
  };
  const hasBody = !hasNoBody(meta.method, response.status);
  capture.responded(response.status, answered.headers);
  // A small response has usually arrived whole with its head: it goes out with the respond
  // POST's head in one write, with no stream in between. Only such a response can carry its
  // trailers (they come after the body, and the POST's meta goes before it).
  const whole = response.takeWholeBody();
  if (whole) {
    report(capture.finish());
    if (response.trailers.length > 0) answered.trailers = response.trailers;
    return { kind: 'complete', id: meta.id, meta: answered, body: hasBody ? whole : null };
  }
  capture.watchResponseBody(response.body, report);
  if (!hasBody) response.body.resume();
  // Trailers the app announced can follow a streamed body only in chunks (shared/protocol/body-chunks.ts).
  else if (options.serverTakesStreamedTrailers() && announcesTrailers(response.headers)) answered.trailersFollow = true;
  return { kind: 'streaming', id: meta.id, meta: answered, response, hasBody };
}

/** The body of a streamed answer as the respond POST carries it: in chunks when trailers follow it. */
export function answerBody(answer: StreamingAnswer): Readable {
  const { response } = answer;
  return answer.meta.trailersFollow ? chunkedAnswerBody(response.body, () => response.trailers) : response.body;
}

/** The length the app declared for a streamed answer's body, when it declared a plain one. */
export function declaredContentLength(response: AppResponse): number | undefined {
  const header = getHeader(response.headers, 'content-length');
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  return Number(header);
}

/**
 * Whether the app's head announces trailers (`Trailer`, RFC 9110 §6.6.2) on a body of unknown
 * length, the only kind that can carry them; trailers an app sends unannounced on a streamed body
 * are dropped (on a body that arrived whole they always pass).
 */
function announcesTrailers(headers: RawHeaders): boolean {
  return getHeader(headers, 'trailer') !== undefined && getHeader(headers, 'content-length') === undefined;
}
