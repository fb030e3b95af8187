/**
 * What the client knows about one request once it is done: ids, the request and response
 * heads, byte counts, timings and body previews. The terminal line, the --log-file line and
 * the inspector are all built from this one record, so they agree on every id and number.
 */

import { performance } from 'node:perf_hooks';
import { pipeline, type Readable } from 'node:stream';
import type { OutboundErrorCode } from '#shared/protocol/outbound';
import type { AppFailureCode } from '#shared/protocol/error-codes';
import type { RawHeaders, RequestMeta } from '#shared/protocol/messages';
import { setHeader } from '#shared/http-headers';
import { traceFields } from '#shared/trace-fields';
import { AppRequestError } from '../forwarding/app-request-error';
import { BodyPreviewBuffer, BodyTap, PREVIEW_CAP_BYTES } from './body-preview';

/** One finished request as the client saw it. */
export interface RequestRecord {
  /** The standin request id (the server's), or a fresh uuid for a replay. */
  requestId: string;
  tunnel: string;
  method: string;
  path: string;
  /** The headers the app got (Host included: the target's, unless --preserve-host). */
  requestHeaders: RawHeaders;
  /** Wall-clock start, ms since epoch. */
  startedAt: number;
  /** The app's status, or 502 when standin answered for it. */
  status: number;
  /** The app's response headers (empty when standin answered). */
  responseHeaders: RawHeaders;
  /** Set when standin answered instead of the app (docs/design.md "Errors"), or instead of the service on an outbound call. */
  error?: AppFailureCode | OutboundErrorCode;
  errorMessage?: string;
  /** `browser_left`: the response was cut because the browser went away, not because the app failed. */
  outcome?: 'browser_left';
  bytesIn: number;
  bytesOut: number;
  /** Time waiting on the server for a poll (from the server; absent for replays). */
  queuedMs?: number;
  /** Time until the app's response head. */
  appMs: number;
  /** Time until the response body was handed on completely. */
  durationMs: number;
  /** Fields from trace headers (shared/trace-fields.ts). */
  trace: Record<string, string>;
  /** First bytes of the bodies (at most PREVIEW_CAP_BYTES each). */
  requestPreview: Buffer;
  responsePreview: Buffer;
  /** Set on a replay: the id of the request it repeats. */
  replayOf?: string;
  /**
   * Set on an outbound call: the app called an in-cluster service through the cluster proxy
   * (`path` is then the absolute URL, and "app" timings are the service's).
   */
  outbound?: true;
}

/** Called once per finished request. */
export type RequestObserver = (record: RequestRecord) => void;

/** Builds the RequestRecord of one request while it runs. */
export class RequestCapture {
  private readonly startedAtMs = performance.now();
  private readonly record: RequestRecord;
  private requestTap: BodyTap | undefined;
  /** The browser's bytes on an upgraded connection (WebSocket), counted but not previewed. */
  private upgradedRequestBytes = 0;
  private readonly response: BodyPreviewBuffer;
  private readonly previewCapBytes: number;

  /**
   * `hostSentToApp`: the Host the app gets instead of the browser's (the target's, without
   * --preserve-host), so the inspector shows the headers the app really saw.
   */
  constructor(
    meta: RequestMeta,
    tunnel: string,
    options: { replayOf?: string; previewCapBytes?: number; hostSentToApp?: string; outbound?: boolean } = {},
  ) {
    this.previewCapBytes = options.previewCapBytes ?? PREVIEW_CAP_BYTES;
    this.response = new BodyPreviewBuffer(this.previewCapBytes);
    this.record = {
      requestId: meta.id,
      tunnel,
      method: meta.method,
      path: meta.url,
      requestHeaders: options.hostSentToApp === undefined ? meta.headers : withHost(meta.headers, options.hostSentToApp),
      startedAt: Date.now(),
      status: 0,
      responseHeaders: [],
      bytesIn: 0,
      bytesOut: 0,
      ...(meta.queuedMs !== undefined ? { queuedMs: meta.queuedMs } : {}),
      appMs: 0,
      durationMs: 0,
      trace: traceFields(meta.headers),
      requestPreview: Buffer.alloc(0),
      responsePreview: Buffer.alloc(0),
      ...(options.replayOf ? { replayOf: options.replayOf } : {}),
      ...(options.outbound ? { outbound: true } : {}),
    };
  }

  /** The request body as the app should read it: same bytes, counted and previewed on the way. */
  tapRequestBody(body: Readable): Readable {
    this.requestTap = new BodyTap(this.previewCapBytes);
    return pipeline(body, this.requestTap, () => {});
  }

  /** The app answered with a head. */
  responded(status: number, headers: RawHeaders): void {
    this.record.status = status;
    this.record.responseHeaders = headers;
    this.record.appMs = this.elapsedMs();
  }

  /** The app (or the service of an outbound call) gave no response head; standin answers `status` with `code`. */
  failed(code: AppFailureCode | OutboundErrorCode, message: string, status = 502): RequestRecord {
    this.record.status = status;
    this.record.error = code;
    this.record.errorMessage = message;
    this.record.appMs = this.elapsedMs();
    return this.finish();
  }

  /**
   * One chunk of the response body, as forwardRequest receives it from the app. Counting here,
   * where the chunk is pushed anyway, costs no extra stream per request on the data path.
   */
  responseChunk(chunk: Buffer): void {
    this.response.add(chunk);
  }

  /** One chunk the browser sent on an upgraded connection (WebSocket) after the 101. */
  upgradedRequestChunk(chunk: Buffer): void {
    this.upgradedRequestBytes += chunk.length;
  }

  /**
   * Calls `onDone` with the record once the response body went through or broke: broken by the
   * app (an AppRequestError) is `app_error`; cut on the way to the server is `browser_left`.
   */
  watchResponseBody(body: Readable, onDone: (record: RequestRecord) => void): void {
    body.once('close', () => {
      if (this.record.outbound && (body.errored || !body.readableEnded)) {
        this.record.error = 'outbound_unreachable';
        this.record.errorMessage = body.errored?.message ?? 'the response body was cut';
      } else if (body.errored instanceof AppRequestError) {
        this.record.error = 'app_error';
        this.record.errorMessage = body.errored.message;
      } else if (!body.readableEnded) {
        // Not the app's doing: whoever carried the body on (the respond POST) stopped taking it.
        this.record.outcome = 'browser_left';
      }
      onDone(this.finish());
    });
  }

  /** Closes the record: final byte counts, previews and total time. */
  finish(): RequestRecord {
    this.record.durationMs = this.elapsedMs();
    if (this.requestTap) {
      this.record.bytesIn = this.requestTap.preview.totalBytes;
      this.record.requestPreview = this.requestTap.preview.captured;
    } else {
      this.record.bytesIn = this.upgradedRequestBytes;
    }
    this.record.bytesOut = this.response.totalBytes;
    this.record.responsePreview = this.response.captured;
    return this.record;
  }

  private elapsedMs(): number {
    return Math.round((performance.now() - this.startedAtMs) * 10) / 10;
  }
}

function withHost(headers: RawHeaders, host: string): RawHeaders {
  const copy = headers.slice();
  setHeader(copy, 'Host', host);
  return copy;
}
