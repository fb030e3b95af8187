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

/** The app's response head and its body. */
export interface AppResponse {
  status: number;
  headers: RawHeaders;
  /** The body as a stream with backpressure (made on first use). */
  readonly body: Readable;
  /**
   * The whole body, when the app has sent all of it already and `body` was not used: a small
   * response usually arrives in the same read as its head, and then needs no stream at all.
   * Undefined otherwise (use `body`).
   */
  takeWholeBody(): Buffer | undefined;
}

/**
 * Body bytes kept before anyone reads the response: at most what arrives before the caller
 * looks at the head. Past this the app's connection is paused until the body is read.
 */
const EARLY_BODY_BYTES = 64 * 1024;

const EMPTY_BODY = Buffer.alloc(0);

/** The response body between undici's handler and its reader, a stream only when one is needed. */
class AppResponseBody {
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private ended = false;
  /** Set once the app's response is over, completed or broken: nothing left to abort. */
  private settled = false;
  private error: Error | undefined;
  private stream: Readable | undefined;

  constructor(
    private readonly resumeApp: () => void,
    private readonly abortApp: (reason: Error) => void,
  ) {}

  /** A chunk from the app; false asks undici to pause the connection. */
  push(chunk: Buffer): boolean {
    if (this.stream) return this.stream.push(chunk);
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    return this.earlyBytes < EARLY_BODY_BYTES;
  }

  end(): void {
    this.ended = true;
    this.settled = true;
    this.stream?.push(null);
  }

  fail(error: Error): void {
    this.settled = true;
    if (this.stream) this.stream.destroy(error);
    else this.error = error;
  }

  takeWhole(): Buffer | undefined {
    if (!this.ended || this.stream || this.error) return undefined;
    const whole = this.early.length === 1 ? this.early[0] : this.earlyBytes === 0 ? EMPTY_BODY : Buffer.concat(this.early, this.earlyBytes);
    this.early = [];
    this.earlyBytes = 0;
    return whole;
  }

  get readable(): Readable {
    if (this.stream) return this.stream;
    const stream = new Readable({
      read: () => this.resumeApp(),
      destroy: (error, callback) => {
        // Whoever read the body gave up (the browser left): stop the app's response too.
        if (!this.settled) this.abortApp(error ?? new Error('response body abandoned'));
        callback(error);
      },
    });
    this.stream = stream;
    for (const chunk of this.early) stream.push(chunk);
    this.early = [];
    if (this.error) stream.destroy(this.error);
    else if (this.ended) stream.push(null);
    return stream;
  }
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
    let responseBody: AppResponseBody | undefined;
    let abortApp: ((reason?: Error) => void) | undefined;
    let resumeApp: (() => void) | undefined;
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        abortApp = abort;
      },
      onHeaders(status, rawHeaders, resume) {
        // 1xx informational answers (103 Early Hints) are not the response.
        if (status < 200) return true;
        resumeApp = resume;
        const body = new AppResponseBody(
          () => resumeApp?.(),
          (reason) => abortApp?.(reason),
        );
        responseBody = body;
        resolve({
          status,
          headers: rawHeaders.map((header) => header.toString('latin1')),
          get body() {
            return body.readable;
          },
          takeWholeBody: () => body.takeWhole(),
        });
        return true;
      },
      onData(chunk) {
        options.onResponseChunk?.(chunk);
        return responseBody?.push(chunk) ?? true;
      },
      onComplete() {
        responseBody?.end();
      },
      onError(error) {
        if (responseBody) responseBody.fail(new AppRequestError('app_error', `the app broke the response: ${error.message}`, { cause: error }));
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
