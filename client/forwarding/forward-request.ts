/**
 * Replays one browser request against the local app with undici's `dispatch`, which hands over
 * the response's raw headers (case and duplicates such as several Set-Cookie kept) and lets the
 * response body stream with backpressure.
 */

import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { setHeader, withoutHopByHop } from '#shared/http-headers';
import type { RawHeaders, RequestMeta } from '#shared/protocol/messages';
import { mayResendAfterClose } from '#shared/resend-rule';
import { AppRequestError, classifyAppError } from './app-request-error';
import type { AppResponse, ForwardOptions } from './app-response';

export { AppRequestError, classifyAppError };
export type { AppResponse, ForwardOptions };
import { forwardAsteriskRequest, isAsteriskForm } from './forward-asterisk-request';

/**
 * Body bytes kept before anyone reads the response: at most what arrives before the caller
 * looks at the head. Past this the app's connection is paused until the body is read.
 */
const EARLY_BODY_BYTES = 64 * 1024;

/**
 * Body bytes kept unread of a response whose end is the close of its connection (no length, not
 * chunked), before its connection is paused: any of its chunks may be the last, and a pause on
 * the last one is what paused-parser-guard.ts is about.
 */
const CLOSE_DELIMITED_BODY_BYTES = 8 * 1024 * 1024;

/** How the app's response body ends, read from its head (RFC 9112 §6.3). */
interface BodyFraming {
  /** The declared Content-Length, when there is one. */
  contentLength: number | undefined;
  /** No length and not chunked: the body ends when the app closes the connection. */
  closeDelimited: boolean;
}

const EMPTY_BODY = Buffer.alloc(0);

/** The response body between undici's handler and its reader, a stream only when one is needed. */
class AppResponseBody {
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private received = 0;
  private ended = false;
  /** Set once the app's response is over, completed or broken: nothing left to abort. */
  private settled = false;
  private error: Error | undefined;
  private stream: Readable | undefined;

  constructor(
    private readonly framing: BodyFraming,
    private readonly resumeApp: () => void,
    private readonly abortApp: (reason: Error) => void,
  ) {}

  /**
   * A chunk from the app; false asks undici to pause the connection. Never on what may be the
   * response's last bytes: undici 7 cannot finish a paused response when the app then closes
   * the connection (paused-parser-guard.ts).
   */
  push(chunk: Buffer): boolean {
    if (this.settled) return true;
    this.received += chunk.length;
    let keptUp: boolean;
    if (this.stream) keptUp = this.stream.push(chunk);
    else {
      this.early.push(chunk);
      this.earlyBytes += chunk.length;
      keptUp = this.earlyBytes < EARLY_BODY_BYTES;
    }
    if (keptUp) return true;
    const { contentLength, closeDelimited } = this.framing;
    if (contentLength !== undefined && this.received >= contentLength) return true;
    if (closeDelimited) return (this.stream?.readableLength ?? this.earlyBytes) < CLOSE_DELIMITED_BODY_BYTES;
    return false;
  }

  end(): void {
    if (this.settled) return;
    this.ended = true;
    this.settled = true;
    this.stream?.push(null);
  }

  /** The app's response broke; ignored once it is over (a late error about a complete response). */
  fail(error: Error): void {
    if (this.settled) return;
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
        // Whoever read the body gave up (the browser left): stop the app's response too. The
        // abort comes back as an error from the app, which is ours, not the app's: ignore it.
        if (!this.settled) {
          this.settled = true;
          this.abortApp(error ?? new Error('response body abandoned'));
        }
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

/**
 * Request headers undici refuses to send (it throws on them). The server strips the hop-by-hop
 * ones already; `Expect` is refused because the server has answered `100 Continue` itself by the
 * time the request reaches the client, so the app has nothing left to agree to.
 */
const HEADERS_UNDICI_REFUSES: ReadonlySet<string> = new Set(['expect', 'transfer-encoding', 'keep-alive', 'upgrade', 'connection']);

/** Sends `meta` (with `body` when it has one) to the app; resolves once the response head arrives. */
export async function forwardRequest(
  app: Dispatcher,
  meta: RequestMeta,
  body: Readable | null,
  options: ForwardOptions,
): Promise<AppResponse> {
  if (isAsteriskForm(meta)) return forwardAsteriskRequest(meta, body, options);
  if (!meta.url.startsWith('/'))
    return Promise.reject(
      new AppRequestError(
        'app_error',
        `the request target ${JSON.stringify(meta.url.slice(0, 100))} is not a path, so it cannot be sent to the local app`,
      ),
    );
  const headers = withoutHopByHop(meta.headers, HEADERS_UNDICI_REFUSES);
  if (!options.preserveHost) setHeader(headers, 'Host', options.target.host);
  const attempt = { heardFromApp: false };
  try {
    return await dispatchToApp(app, meta, headers, body, options, attempt);
  } catch (error) {
    // The app closed the connection before a word of response, most often a kept-alive one just
    // as this request went out on it: once more on a new connection, when that is safe.
    if (attempt.heardFromApp || !mayResendAfterClose(meta, (error as NodeJS.ErrnoException).code))
      throw classifyAppError(error as Error, options.target);
  }
  try {
    return await dispatchToApp(app, meta, headers, null, options, attempt);
  } catch (error) {
    throw classifyAppError(error as Error, options.target);
  }
}

/**
 * One dispatch of the request to the app: resolves with the response head, rejects with
 * undici's error when none came. Sets `attempt.heardFromApp` once any response byte (an interim
 * 1xx included) arrived.
 */
function dispatchToApp(
  app: Dispatcher,
  meta: RequestMeta,
  headers: RawHeaders,
  body: Readable | null,
  options: ForwardOptions,
  attempt: { heardFromApp: boolean },
): Promise<AppResponse> {
  return new Promise((resolve, reject) => {
    let responseBody: AppResponseBody | undefined;
    let abortApp: ((reason?: Error) => void) | undefined;
    let resumeApp: (() => void) | undefined;
    let trailers: RawHeaders = [];
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        abortApp = abort;
      },
      onHeaders(status, rawHeaders, resume, statusText) {
        attempt.heardFromApp = true;
        // 1xx informational answers (103 Early Hints) are not the response; they are passed on
        // ahead of it where the caller can (undici reports 102-199; it treats a 100 nobody asked for as a broken response).
        if (status < 200) {
          options.onInterim?.({
            kind: 'interim',
            status,
            headers: rawHeaders.map((header) => header.toString('latin1')),
            ...(statusText ? { statusMessage: statusText } : {}),
          });
          return true;
        }
        resumeApp = resume;
        const responseHeaders = rawHeaders.map((header) => header.toString('latin1'));
        const body = new AppResponseBody(
          bodyFraming(responseHeaders),
          () => resumeApp?.(),
          (reason) => abortApp?.(reason),
        );
        responseBody = body;
        resolve({
          status,
          statusMessage: statusText ?? '',
          headers: responseHeaders,
          get trailers() {
            return trailers;
          },
          get body() {
            return body.readable;
          },
          takeWholeBody: () => body.takeWhole(),
        });
        // A 204 or 304 has no body whatever its Content-Length says (RFC 9110 §8.6, §15.3.5,
        // §15.4.5); undici still counts that length and reports a mismatch afterwards, which must
        // not turn a complete answer into a broken one. HEAD is the same, and undici knows it.
        if (hasNoBody(meta.method, status)) body.end();
        return true;
      },
      onData(chunk) {
        options.onResponseChunk?.(chunk);
        return responseBody?.push(chunk) ?? true;
      },
      onComplete(rawTrailers) {
        // undici types these as strings but hands over the raw Buffers, as with the head.
        if (rawTrailers)
          trailers = (rawTrailers as unknown as (Buffer | string)[]).map((item) =>
            typeof item === 'string' ? item : item.toString('latin1'),
          );
        responseBody?.end();
      },
      onError(error) {
        if (responseBody)
          responseBody.fail(new AppRequestError('app_error', `the app broke the response: ${error.message}`, { cause: error }));
        else reject(error);
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

/** How a response body with these headers ends (undici has refused conflicting framings already). */
function bodyFraming(headers: RawHeaders): BodyFraming {
  let contentLength: number | undefined;
  let chunked = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i].toLowerCase();
    const value = headers[i + 1];
    if (name === 'content-length' && /^\s*\d+\s*$/.test(value)) contentLength = Number(value);
    else if (name === 'transfer-encoding' && /chunked/i.test(value)) chunked = true;
  }
  return { contentLength: chunked ? undefined : contentLength, closeDelimited: !chunked && contentLength === undefined };
}

/** Whether a response to `method` with `status` has no body, whatever its headers say (RFC 9110 §6.4.1). */
export function hasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}
