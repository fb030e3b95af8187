/**
 * Replays one browser request against the local app with undici's `dispatch`, which hands over
 * the response's raw headers (case and duplicates such as several Set-Cookie kept) and lets the
 * response body stream with backpressure.
 */

import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { TunnelError } from '../shared/errors';
import { setHeader } from '../shared/http-headers';
import type { AppFailureCode, RawHeaders, RequestMeta } from '../shared/protocol';

/** The app's response head and its streaming body. */
export interface AppResponse {
  status: number;
  headers: RawHeaders;
  body: Readable;
}

/** The app could not be reached, or broke before sending a response head. */
export class AppRequestError extends TunnelError {
  override name = 'AppRequestError';
  constructor(
    readonly failure: AppFailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(failure, message, options);
  }
}

/** Error codes undici uses before a connection to the app exists. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);

/** Options of forwardRequest. */
export interface ForwardOptions {
  target: URL;
  preserveHost: boolean;
  /** How long to wait for the app's response head. */
  headersTimeoutMs: number;
  /** Sees every chunk of the response body as it arrives (counting and previews). */
  onResponseChunk?: (chunk: Buffer) => void;
}

/** Sends `meta` (with `body` when it has one) to the app; resolves once the response head arrives. */
export function forwardRequest(app: Dispatcher, meta: RequestMeta, body: Readable | null, options: ForwardOptions): Promise<AppResponse> {
  const headers = meta.headers.slice();
  if (!options.preserveHost) setHeader(headers, 'Host', options.target.host);
  return new Promise((resolve, reject) => {
    let responseBody: Readable | undefined;
    let abortApp: ((reason?: Error) => void) | undefined;
    let resumeApp: (() => void) | undefined;
    let completed = false;
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        abortApp = abort;
      },
      onHeaders(status, rawHeaders, resume) {
        // 1xx informational answers (103 Early Hints) are not the response.
        if (status < 200) return true;
        resumeApp = resume;
        responseBody = new Readable({
          read: () => resumeApp?.(),
          destroy: (error, callback) => {
            // Whoever read the body gave up (the browser left): stop the app's response too.
            if (!completed) abortApp?.(error ?? new Error('response body abandoned'));
            callback(error);
          },
        });
        resolve({ status, headers: rawHeaders.map((header) => header.toString('latin1')), body: responseBody });
        return true;
      },
      onData(chunk) {
        options.onResponseChunk?.(chunk);
        return responseBody?.push(chunk) ?? true;
      },
      onComplete() {
        completed = true;
        responseBody?.push(null);
      },
      onError(error) {
        completed = true;
        if (responseBody) responseBody.destroy(new AppRequestError('app_error', `the app broke the response: ${error.message}`, { cause: error }));
        else reject(classifyAppError(error, options.target));
      },
    };
    app.dispatch(
      {
        origin: options.target.origin,
        method: meta.method,
        path: meta.url,
        headers,
        body: meta.hasBody ? body : null,
        headersTimeout: options.headersTimeoutMs,
        // A streamed response (server-sent events) may be quiet for long; it is bounded by the
        // browser's connection, which cuts the chain when it closes.
        bodyTimeout: 0,
      },
      handler,
    );
  });
}

/** Turns an error from talking to the app into app_unreachable (no connection) or app_error. */
export function classifyAppError(error: Error, target: URL): AppRequestError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (CONNECT_ERRORS.has(code)) {
    return new AppRequestError('app_unreachable', `could not connect to the local app at ${target.origin} (${code})`, { cause: error });
  }
  return new AppRequestError('app_error', `the local app at ${target.origin} failed before answering: ${error.message}`, { cause: error });
}
