/**
 * The app's streamed body in chunks, then its trailers (shared/protocol/body-chunks.ts), for a response
 * whose app announced trailers (`Trailer`) and a server with `streamed-trailers`: a plain respond
 * POST ends where the body ends, so nothing could follow it.
 */

import { Transform, type Readable } from 'node:stream';
import { encodeBodyChunk, encodeBodyEnd } from '#shared/protocol/body-chunks';
import type { RawHeaders } from '#shared/protocol/messages';

/** `body` chunked, then the trailers `trailers()` gives once the body has ended; backpressure and errors pass through. */
export function chunkedAnswerBody(body: Readable, trailers: () => RawHeaders): Readable {
  const chunked = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (const piece of encodeBodyChunk(chunk)) this.push(piece);
      callback();
    },
    flush(callback) {
      callback(null, encodeBodyEnd(trailers()));
    },
  });
  body.once('error', (error) => chunked.destroy(error));
  // The app's response is abandoned when its reader is (the POST was cut).
  chunked.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  return body.pipe(chunked);
}
