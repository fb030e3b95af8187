/**
 * The app's response trailers (AppResponseMeta.trailers) written after the body to the browser.
 * Node sends trailers only on a chunked response, which is what an app that sent trailers used
 * (its Content-Length, if any, never reaches the browser alongside them).
 */

import type { ServerResponse } from 'node:http';
import type { AppResponseMeta } from '../shared/protocol';

/** Adds the response's trailers, if any, to be written when `res` ends. */
export function addAppTrailers(res: ServerResponse, response: AppResponseMeta): void {
  const trailers = response.trailers;
  if (!trailers || trailers.length === 0 || res.destroyed) return;
  const pairs: [string, string][] = [];
  for (let i = 0; i < trailers.length; i += 2) pairs.push([trailers[i], trailers[i + 1]]);
  try {
    res.addTrailers(pairs);
  } catch {
    // Parsing dropped malformed fields already; anything Node still refuses is left out, not fatal.
  }
}
