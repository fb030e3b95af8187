/** Whether a browser request has a body, read from its framing headers. */

import type { IncomingMessage } from 'node:http';

/** A body is announced by a Content-Length above 0 or by Transfer-Encoding (RFC 9112 §6.1, §6.2). */
export function hasRequestBody(req: Pick<IncomingMessage, 'headers'>): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}
