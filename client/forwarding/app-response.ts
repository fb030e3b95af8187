/** What replaying one request against the local app gives back, whichever way it went out. */

import type { Readable } from 'node:stream';
import type { InterimResponseMeta, RawHeaders } from '#shared/protocol/messages';

/** The app's response head and its body. */
export interface AppResponse {
  status: number;
  /** The app's own reason phrase (`299 Whatever`), when it sent one. */
  statusMessage: string;
  headers: RawHeaders;
  /**
   * The trailer fields that followed a chunked body, once the body has ended (empty before, and
   * when the app sent none).
   */
  readonly trailers: RawHeaders;
  /** The body as a stream with backpressure (made on first use). */
  readonly body: Readable;
  /**
   * The whole body, when the app has sent all of it already and `body` was not used: a small
   * response usually arrives in the same read as its head, and then needs no stream at all.
   * Undefined otherwise (use `body`).
   */
  takeWholeBody(): Buffer | undefined;
}

/** Options of forwardRequest. */
export interface ForwardOptions {
  target: URL;
  preserveHost: boolean;
  /** How long to wait for the app's response head. */
  headersTimeoutMs: number;
  /** Sees every chunk of the response body as it arrives (counting and previews). */
  onResponseChunk?: (chunk: Buffer) => void;
  /** Sees each interim (1xx) response the app sends before its final head (103 Early Hints, 102). */
  onInterim?: (interim: InterimResponseMeta) => void;
}
