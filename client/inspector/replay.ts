/**
 * "Replay" in the inspector: sends a captured request to the local app again, under a fresh
 * request id, with the captured headers and body, or with the developer's edits of method, path,
 * headers and body (replay-edits.ts). Only requests whose whole body was captured (at most
 * 64 KiB) can be replayed unchanged: sending a cut body would be a different request. With an
 * edited body that does not matter.
 */

import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { StandinError } from '#shared/errors';
import { getHeader, setHeader, withoutHopByHop } from '#shared/http-headers';
import type { RequestMeta } from '#shared/protocol/messages';
import { AppRequestError, forwardRequest } from '../forwarding/forward-request';
import { RequestCapture, type RequestObserver, type RequestRecord } from './request-capture';
import type { ReplayEdits } from './replay-edits';
import { replayRefusal } from './request-store';

/** How long a replay waits for the app's response head. */
const REPLAY_HEADERS_TIMEOUT_MS = 30_000;

/** A replayed response body is read for at most this long (it may be an endless event stream). */
const REPLAY_BODY_TIMEOUT_MS = 30_000;

/** How long the replay call waits for the body before answering with the status alone. */
const REPLAY_ANSWER_WAIT_MS = 2_000;

/** The request cannot be replayed (its body was not captured whole). */
export class ReplayRefusedError extends StandinError {
  override name = 'ReplayRefusedError';
  constructor(message: string) {
    super('replay_refused', message);
  }
}

/** The answer of POST /api/requests/<id>/replay. */
export interface ReplayResult {
  id: string;
  status: number;
  error?: string;
}

/** Options of replayRequest. */
export interface ReplayOptions {
  app: Dispatcher;
  target: URL;
  preserveHost: boolean;
  /** Gets the replay's record when it is done (terminal, log file, inspector list). */
  onDone: RequestObserver;
}

/** Sends `original` to the app again; resolves once the response is done (or after a short wait). */
export async function replayRequest(original: RequestRecord, options: ReplayOptions, edits: ReplayEdits = {}): Promise<ReplayResult> {
  const refusal = replayRefusal(original, { bodyEdited: edits.body !== undefined });
  if (refusal) throw new ReplayRefusedError(refusal);
  const bodyBytes = edits.body ?? original.requestPreview;
  const meta = replayMeta(original, edits, bodyBytes.length);
  const capture = new RequestCapture(meta, original.tunnel, { replayOf: original.requestId });
  const body = meta.hasBody ? capture.tapRequestBody(Readable.from([bodyBytes])) : null;
  try {
    const response = await forwardRequest(options.app, meta, body, {
      target: options.target,
      preserveHost: options.preserveHost,
      headersTimeoutMs: REPLAY_HEADERS_TIMEOUT_MS,
      onResponseChunk: (chunk) => capture.responseChunk(chunk),
    });
    capture.responded(response.status, response.headers);
    const done = new Promise<void>((resolve) => {
      capture.watchResponseBody(response.body, (record) => {
        clearTimeout(timer);
        options.onDone(record);
        resolve();
      });
      const timer = setTimeout(() => response.body.destroy(), REPLAY_BODY_TIMEOUT_MS).unref();
      response.body.resume();
    });
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, REPLAY_ANSWER_WAIT_MS).unref())]);
    return { id: meta.id, status: response.status };
  } catch (error) {
    const failure = error instanceof AppRequestError ? error : new AppRequestError('app_error', (error as Error).message, { cause: error });
    options.onDone(capture.failed(failure.failure, failure.message));
    return { id: meta.id, status: 502, error: failure.failure };
  }
}

/** The captured request (edited) under a new id; the app can tell it is a replay from X-Standin-Replay-Of. */
function replayMeta(original: RequestRecord, edits: ReplayEdits, bodyBytes: number): RequestMeta {
  const id = randomUUID();
  const headers = (edits.headers ?? original.requestHeaders).slice();
  if (edits.headers || edits.body) {
    // The body decides its length; an edited header list may have kept the old one, or none.
    const withoutFraming = withoutHopByHop(headers, new Set(['content-length']));
    headers.splice(0, headers.length, ...withoutFraming);
    if (bodyBytes > 0) setHeader(headers, 'Content-Length', String(bodyBytes));
  }
  setHeader(headers, 'X-Standin-Request-Id', id);
  // X-Request-Id carried the standin id unless the browser sent its own; keep theirs.
  if (getHeader(headers, 'x-request-id') === original.requestId) setHeader(headers, 'X-Request-Id', id);
  setHeader(headers, 'X-Standin-Replay-Of', original.requestId);
  return {
    kind: 'request',
    id,
    method: edits.method ?? original.method,
    url: edits.path ?? original.path,
    headers,
    hasBody: bodyBytes > 0,
  };
}
