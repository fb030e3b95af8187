/**
 * The head of an app's response as it may go to a browser, derived from what the client reports
 * (AppResponseMeta in shared/protocol/messages.ts), which standin does not trust: a client (or an app behind
 * it) could otherwise split a response, declare one length and send another, or answer a plain
 * request with an interim status, and so smuggle a second response to the next user of a
 * keep-alive proxy connection in front of standin.
 *
 * Rules, from RFC 9110 and RFC 9112:
 * - the final status of a request that is not an upgrade is 200-999; 1xx (101 included) are
 *   interim answers and cannot end a request (RFC 9110 §15.2), so they are refused;
 * - header names are tokens and values hold no CR, LF or NUL (RFC 9110 §5.5), and, as Node
 *   writes them, no character above U+00FF; otherwise the whole response is refused;
 * - the message framing is standin's own on the browser's connection: hop-by-hop headers go
 *   (RFC 9110 §7.6.1), `Transfer-Encoding` is never passed on (Node chunks when the length is
 *   unknown), and `Content-Length` is kept only as one valid number (equal repeats folded, RFC
 *   9110 §8.6; differing ones refused). When the app sent `Transfer-Encoding`, its
 *   `Content-Length` does not count (RFC 9112 §6.3);
 * - HEAD answers, 204 and 304 have no body (RFC 9110 §6.4.1); a 204 has no Content-Length.
 * The body is then held to the length declared (BodyLengthGuard).
 */

import { connectionTokens, HOP_BY_HOP_HEADERS } from '#shared/http-headers';
import type { RawHeaders } from '#shared/protocol/messages';

/** What the client reported about the app's response head. */
export interface ReportedResponseHead {
  status: number;
  headers: RawHeaders;
  statusMessage?: string;
}

/** A response head that may go to the browser, and how long its body must be. */
export interface FramedResponseHead {
  ok: true;
  status: number;
  /** The app's reason phrase, when it is safe to send; else Node's default for the status. */
  statusMessage: string | undefined;
  headers: RawHeaders;
  /** The body's exact length in bytes; null when not declared (chunked or close-delimited). */
  bodyBytes: number | null;
  /** True when the response has no body whatever the client sends (HEAD, 204, 304). */
  bodiless: boolean;
}

/** Why a reported head cannot go to the browser. */
export interface RefusedResponseHead {
  ok: false;
  reason: string;
}

/** A header name is an RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** What Node writes in a header value or reason phrase: tab, visible ASCII, space and Latin-1 (no CR, LF, NUL). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Longest reason phrase passed on; a longer one is replaced by the default. */
const MAX_REASON_PHRASE_LENGTH = 512;

/** A Content-Length value: decimal digits, and small enough to be an exact JavaScript number. */
const CONTENT_LENGTH = /^\d{1,15}$/;

/** Checks and reframes the head the client reported for a `requestMethod` request. */
export function frameResponseHead(requestMethod: string, reported: ReportedResponseHead): FramedResponseHead | RefusedResponseHead {
  const { status } = reported;
  if (!Number.isInteger(status) || status < 200 || status > 999) {
    return { ok: false, reason: `status ${status} cannot be a final answer to a ${requestMethod.slice(0, 20)} request` };
  }
  const namedInConnection = connectionTokens(reported.headers);
  const headers: RawHeaders = [];
  let chunked = false;
  const lengths: string[] = [];
  let lengthAt = -1;
  for (let i = 0; i < reported.headers.length; i += 2) {
    const [name, value] = [reported.headers[i], reported.headers[i + 1]];
    if (!TOKEN.test(name)) return { ok: false, reason: `response header name ${JSON.stringify(name.slice(0, 40))} is not a token` };
    if (!FIELD_VALUE.test(value))
      return { ok: false, reason: `response header ${name} has CR, LF, NUL or a character Node cannot send in its value` };
    const lowerCaseName = name.toLowerCase();
    if (lowerCaseName === 'transfer-encoding') chunked = true;
    else if (lowerCaseName === 'content-length') {
      // The first one keeps its place and spelling; its value is settled below.
      if (lengths.length === 0) {
        lengthAt = headers.length;
        headers.push(name, value);
      }
      lengths.push(value);
    } else if (!HOP_BY_HOP_HEADERS.has(lowerCaseName) && !namedInConnection?.has(lowerCaseName)) headers.push(name, value);
  }
  const declared = chunked ? null : declaredLength(lengths);
  if (declared === 'invalid')
    return { ok: false, reason: `Content-Length ${JSON.stringify(lengths.join(', ').slice(0, 60))} is not one length` };
  const bodiless = requestMethod === 'HEAD' || status === 204 || status === 304;
  // A HEAD answer and a 304 may say how long the full answer would be; a 204 says nothing (RFC 9110 §8.6).
  if (declared !== null && status !== 204) headers[lengthAt + 1] = String(declared);
  else if (lengthAt >= 0) headers.splice(lengthAt, 2);
  return {
    ok: true,
    status,
    statusMessage: safeReasonPhrase(reported.statusMessage),
    headers,
    bodyBytes: bodiless ? 0 : declared,
    bodiless,
  };
}

/** The one length the Content-Length values state, null with none, 'invalid' when they disagree or are not numbers. */
function declaredLength(values: string[]): number | null | 'invalid' {
  if (values.length === 0) return null;
  let length: number | undefined;
  for (const value of values) {
    for (const part of value.split(',')) {
      const text = part.trim();
      if (!CONTENT_LENGTH.test(text)) return 'invalid';
      if (length !== undefined && Number(text) !== length) return 'invalid';
      length = Number(text);
    }
  }
  return length ?? 'invalid';
}

function safeReasonPhrase(reason: string | undefined): string | undefined {
  if (reason === undefined || reason.length === 0 || reason.length > MAX_REASON_PHRASE_LENGTH) return undefined;
  return FIELD_VALUE.test(reason) ? reason : undefined;
}

/**
 * Holds the body of one response to its framed length: bytes past a declared length are never
 * passed on, a bodiless response passes none, and a body that ends short is reported, so the
 * caller can cut the connection instead of letting the browser (or a proxy) take it as whole.
 */
export class BodyLengthGuard {
  private passedBytes = 0;
  /** Set once the client sent more than the declared length. */
  overran = false;

  /** `expectedBytes` null: any length (the end of the client's body ends it); 'none': drop every byte. */
  constructor(private readonly expectedBytes: number | null | 'none') {}

  /** A guard for `head`'s body. */
  static for(head: FramedResponseHead): BodyLengthGuard {
    return new BodyLengthGuard(head.bodiless ? 'none' : head.bodyBytes);
  }

  /** The part of `chunk` that may go to the browser (possibly empty). */
  take(chunk: Buffer): Buffer {
    if (this.expectedBytes === null) return chunk;
    if (this.expectedBytes === 'none') return chunk.subarray(0, 0);
    const room = this.expectedBytes - this.passedBytes;
    if (chunk.length > room) {
      this.overran = true;
      chunk = chunk.subarray(0, Math.max(0, room));
    }
    this.passedBytes += chunk.length;
    return chunk;
  }

  /** Whether a declared length was given and has been passed on in full. */
  get reachedDeclaredEnd(): boolean {
    return typeof this.expectedBytes === 'number' && this.passedBytes === this.expectedBytes;
  }

  /** Whether the whole declared body has been passed on (the response is complete). */
  get complete(): boolean {
    return typeof this.expectedBytes !== 'number' || this.passedBytes === this.expectedBytes;
  }
}
