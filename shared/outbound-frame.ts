/**
 * The frame at the start of an outbound body: a 4-byte big-endian length, then that many bytes
 * of JSON meta; the body bytes follow untouched. Stands in until the shared wire-frame codec
 * lands; then outbound uses that one.
 */

import type { Readable } from 'node:stream';
import { ProtocolError } from './errors';

const LENGTH_BYTES = 4;

/** The frame that carries `meta` at the start of a body. */
export function encodeFrame(meta: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const frame = Buffer.allocUnsafe(LENGTH_BYTES + json.length);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, LENGTH_BYTES);
  return frame;
}

/**
 * Reads the frame at the start of `body` (at most `maxBytes` of meta) and resolves with the
 * parsed meta; the bytes after it are put back, so `body` itself then reads as the payload.
 * Rejects with ProtocolError on a bad or oversized frame, or when the body ends or breaks first.
 */
export function readFrame(body: Readable, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const cleanup = () => {
      body.off('readable', onReadable);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onEnd);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onEnd = () => fail(new ProtocolError('the body ended before its meta frame was complete'));
    const onError = (error: Error) => fail(new ProtocolError(`the body broke before its meta frame was complete: ${error.message}`, { cause: error }));
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = body.read() as Buffer | null) !== null) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        if (buffered.length < LENGTH_BYTES) continue;
        const length = buffered.readUInt32BE(0);
        if (length > maxBytes) return fail(new ProtocolError(`meta frame of ${length} bytes is larger than ${maxBytes}`));
        if (buffered.length < LENGTH_BYTES + length) continue;
        let meta: unknown;
        try {
          meta = JSON.parse(buffered.subarray(LENGTH_BYTES, LENGTH_BYTES + length).toString('utf8'));
        } catch {
          return fail(new ProtocolError('meta frame is not valid JSON'));
        }
        cleanup();
        const rest = buffered.subarray(LENGTH_BYTES + length);
        if (rest.length > 0) body.unshift(rest);
        resolve(meta);
        return;
      }
    };
    body.on('readable', onReadable);
    body.once('end', onEnd);
    body.once('close', onEnd);
    body.once('error', onError);
  });
}
