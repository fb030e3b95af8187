/**
 * An app's interim (1xx) response passed on to the browser before the final head, as RFC 9110
 * §15.2 asks of a proxy: 103 Early Hints lets the browser fetch stylesheets while the app still
 * works, 102 Processing tells it a slow request is alive.
 *
 * Node writes its own 1xx (writeContinue, writeProcessing, writeEarlyHints) with the response's
 * `_writeRaw`, which writes at once when the response owns its socket and otherwise queues the
 * bytes behind the responses pipelined before it. The app's heads go out the same way, with their
 * own status, reason and raw headers, which writeEarlyHints (103 only, headers as an object)
 * would not keep.
 */

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { connectionTokens, HOP_BY_HOP_HEADERS } from '#shared/http-headers';
import type { InterimResponseMeta } from '#shared/protocol/messages';

/** A header name is an RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** What Node writes in a header value: tab, visible ASCII, space and Latin-1 (no CR, LF, NUL). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Framing headers mean nothing on a 1xx (it has no body) and are not passed on. */
const FRAMING_HEADERS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding']);

/** Node's internal raw writer (see above). */
type RawWriter = (data: string, encoding: BufferEncoding) => boolean;

/**
 * Writes `interim` to the browser, unless it may not go: the final head went out already, the
 * browser speaks HTTP/1.0 (RFC 9110 §15.2: a server MUST NOT send it a 1xx), a header is
 * malformed (then the whole interim is dropped, never the request), or it is longer than
 * `maxBytes` (interims are written without waiting for a slow browser, so their total is
 * bounded by the caller). Returns how many bytes went out, 0 when it was dropped.
 */
export function writeInterimResponse(req: IncomingMessage, res: ServerResponse, interim: InterimResponseMeta, maxBytes: number): number {
  if (res.headersSent || res.writableEnded || res.destroyed) return 0;
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return 0;
  const writeRaw = (res as unknown as { _writeRaw?: RawWriter })._writeRaw;
  if (typeof writeRaw !== 'function') return 0;
  const head = formatInterimHead(interim);
  if (head === undefined || head.length > maxBytes) return 0;
  writeRaw.call(res, head, 'latin1');
  return head.length;
}

/** The head of an interim response, or undefined when a field cannot be written safely. */
export function formatInterimHead(interim: InterimResponseMeta): string | undefined {
  if (!Number.isInteger(interim.status) || interim.status < 102 || interim.status > 199) return undefined;
  const reason =
    interim.statusMessage && FIELD_VALUE.test(interim.statusMessage) ? interim.statusMessage : (STATUS_CODES[interim.status] ?? '');
  const namedInConnection = connectionTokens(interim.headers);
  let head = `HTTP/1.1 ${interim.status} ${reason}\r\n`;
  for (let i = 0; i < interim.headers.length; i += 2) {
    const [name, value] = [interim.headers[i], interim.headers[i + 1]];
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return undefined;
    const lowerCaseName = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lowerCaseName) || FRAMING_HEADERS.has(lowerCaseName) || namedInConnection?.has(lowerCaseName)) continue;
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
