/**
 * The app's response trailers written after the body to the browser: those of a whole response
 * come in its meta (AppResponseMeta.trailers), those of a streamed one in the frame that closes
 * its chunked body (shared/protocol/body-chunks.ts). Node sends trailers only on a chunked response, which
 * is what an app that sent trailers used (its Content-Length, if any, never reaches the browser
 * alongside them).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseTrailersMeta } from '#shared/protocol/message-codecs';
import type { AppResponseMeta, RawHeaders } from '#shared/protocol/messages';
import type { FramedResponseHead } from './response-framing';

/**
 * Drops the app's `Trailer` header when the browser's response cannot carry trailers: no body
 * (HEAD, 204, 304), a declared length, or an HTTP/1.0 browser (no chunked encoding). Node
 * refuses to write such a head at all, which made the request a 502.
 */
export function dropTrailerHeaderUnlessChunked(framed: FramedResponseHead, browserReq: IncomingMessage): void {
  const chunked = !framed.bodiless && framed.bodyBytes === null && browserReq.httpVersionMajor === 1 && browserReq.httpVersionMinor >= 1;
  if (chunked) return;
  for (let i = framed.headers.length - 2; i >= 0; i -= 2) if (framed.headers[i].toLowerCase() === 'trailer') framed.headers.splice(i, 2);
}

/** Adds the response's trailers, if any, to be written when `res` ends. */
export function addAppTrailers(res: ServerResponse, response: AppResponseMeta): void {
  if (response.trailers) addTrailerFields(res, response.trailers);
}

/** Adds the trailers of a chunked body's closing frame; a frame that does not parse adds none. */
export function addStreamedTrailers(res: ServerResponse, trailersJson: string): void {
  let trailers: RawHeaders;
  try {
    trailers = parseTrailersMeta(trailersJson);
  } catch {
    return;
  }
  addTrailerFields(res, trailers);
}

function addTrailerFields(res: ServerResponse, trailers: RawHeaders): void {
  if (trailers.length === 0 || res.destroyed) return;
  const pairs: [string, string][] = [];
  for (let i = 0; i < trailers.length; i += 2) pairs.push([trailers[i], trailers[i + 1]]);
  try {
    res.addTrailers(pairs);
  } catch {
    // Parsing dropped malformed fields already; anything Node still refuses is left out, not fatal.
  }
}
