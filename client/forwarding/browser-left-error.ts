/**
 * The respond POST that carried a response body to the server was cut: the browser left (closed
 * the page, an event stream), the request timed out, or the connection to the server broke. The
 * app did nothing wrong, so the request is recorded with outcome `browser_left`, not `app_error`.
 */

import { StandinError } from '#shared/errors';

export class BrowserLeftError extends StandinError {
  override name = 'BrowserLeftError';
  constructor(options?: { cause?: unknown }) {
    super('browser_left', 'the browser left before the whole response was delivered', options);
  }
}
