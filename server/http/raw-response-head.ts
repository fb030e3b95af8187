/**
 * A response head written straight to a socket, for the 101 of an upgrade: after it the socket
 * belongs to the new protocol, so Node's ServerResponse (which would add Date, chunking and keep
 * its hands on the socket) is not used.
 */

import { STATUS_CODES } from 'node:http';
import { ProtocolError } from '#shared/errors';
import type { RawHeaders } from '#shared/protocol/messages';

/** A header name is an RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Field values must not contain CR, LF or NUL (RFC 9110 §5.5), or the head could be split. */
const UNSAFE_VALUE = /[\r\n\0]/;

/** Formats `HTTP/1.1 <status> <reason>` and the raw headers, or throws ProtocolError on a bad header. */
export function formatResponseHead(status: number, headers: RawHeaders): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    const [name, value] = [headers[i], headers[i + 1]];
    if (!TOKEN.test(name)) throw new ProtocolError(`response header name ${JSON.stringify(name.slice(0, 40))} is not a token`);
    if (UNSAFE_VALUE.test(value)) throw new ProtocolError(`response header ${name} has CR, LF or NUL in its value`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
