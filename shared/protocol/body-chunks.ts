/**
 * The body of a respond POST whose response has trailers to come (AppResponseMeta.trailersFollow,
 * protocol feature `streamed-trailers`). A plain respond POST ends where the app's body ends, so
 * nothing can follow it; here the app's body goes in chunks, and a closing frame carries the
 * trailer fields the app sent after its last chunk:
 *
 *     <length>\n<length bytes of body> ... 0\n<length of the JSON>\n{"kind":"trailers","trailers":[...]}
 *
 * Lengths are ASCII decimal, like the metadata frame's (wire-frame.ts). The body bytes are
 * passed on as slices of what arrives, never copied or buffered whole, so backpressure is kept.
 */

import { ProtocolError } from '../errors';
import { MAX_META_FRAME_BYTES } from './limits';
import { encodeMeta } from './message-codecs';
import type { RawHeaders } from './messages';
import { encodeFrame } from './wire-frame';

/** Largest body chunk; the encoder splits bigger ones, the reader refuses them. */
export const MAX_BODY_CHUNK_BYTES = 1024 * 1024;

/** Most digits a length may have (MAX_META_FRAME_BYTES and MAX_BODY_CHUNK_BYTES have 7). */
const MAX_LENGTH_DIGITS = 7;

const NEWLINE = 0x0a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** The pieces that carry `chunk` (one length prefix each, split at MAX_BODY_CHUNK_BYTES); none for an empty one. */
export function encodeBodyChunk(chunk: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += MAX_BODY_CHUNK_BYTES) {
    const part = chunk.subarray(at, at + MAX_BODY_CHUNK_BYTES);
    pieces.push(Buffer.from(`${part.length}\n`, 'latin1'), part);
  }
  return pieces;
}

/** The end of a chunked body: the zero length, then the trailers frame. */
export function encodeBodyEnd(trailers: RawHeaders): Buffer {
  return Buffer.concat([Buffer.from('0\n', 'latin1'), encodeFrame(encodeMeta({ kind: 'trailers', trailers }))]);
}

type ReaderState = 'chunk-length' | 'chunk' | 'trailers-length' | 'trailers' | 'done';

/**
 * Reads a chunked body as it arrives: take() returns the app's body bytes in each piece of the
 * POST body, and once the trailers frame is complete, `complete` is true and `trailersJson` holds
 * it. Throws ProtocolError on anything that is not this format, and on bytes after the end.
 */
export class BodyChunkReader {
  private state: ReaderState = 'chunk-length';
  private digits = '';
  private remaining = 0;
  private readonly trailerParts: Buffer[] = [];

  /** Whether the body and its trailers frame are complete. */
  get complete(): boolean {
    return this.state === 'done';
  }

  /** The JSON of the trailers frame (once complete). */
  get trailersJson(): string {
    return Buffer.concat(this.trailerParts).toString('utf8');
  }

  /** Takes the next bytes of the POST body; returns the body bytes among them (slices, not copies). */
  take(data: Buffer): Buffer[] {
    const body: Buffer[] = [];
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case 'chunk-length':
        case 'trailers-length':
          at = this.takeLengthByte(data[at], at);
          break;
        case 'chunk':
        case 'trailers': {
          const part = data.subarray(at, at + this.remaining);
          at += part.length;
          this.remaining -= part.length;
          if (this.state === 'chunk') body.push(part);
          else this.trailerParts.push(Buffer.from(part));
          if (this.remaining === 0) this.state = this.state === 'chunk' ? 'chunk-length' : 'done';
          break;
        }
        case 'done':
          throw new ProtocolError('bytes follow the trailers frame of a chunked response body');
        default: {
          const unknown: never = this.state;
          throw new Error(`unknown reader state ${String(unknown)}`);
        }
      }
    }
    return body;
  }

  /** One byte of a length prefix; returns where reading goes on. */
  private takeLengthByte(byte: number, at: number): number {
    if (byte !== NEWLINE) {
      if (byte < DIGIT_0 || byte > DIGIT_9)
        throw new ProtocolError(`a chunked response body has byte 0x${byte.toString(16).padStart(2, '0')} where a decimal length belongs`);
      if (this.digits.length >= MAX_LENGTH_DIGITS)
        throw new ProtocolError(`a length in a chunked response body has more than ${MAX_LENGTH_DIGITS} digits`);
      this.digits += String.fromCharCode(byte);
      return at + 1;
    }
    if (this.digits.length === 0) throw new ProtocolError('a chunked response body has no length before a newline');
    const length = Number(this.digits);
    this.digits = '';
    if (this.state === 'chunk-length') {
      if (length > MAX_BODY_CHUNK_BYTES) throw new ProtocolError(`a chunk of ${length} bytes is over the limit of ${MAX_BODY_CHUNK_BYTES}`);
      this.state = length === 0 ? 'trailers-length' : 'chunk';
    } else {
      if (length === 0 || length > MAX_META_FRAME_BYTES)
        throw new ProtocolError(`the trailers frame declares ${length} bytes (1 to ${MAX_META_FRAME_BYTES} allowed)`);
      this.state = 'trailers';
    }
    this.remaining = length;
    return at + 1;
  }
}
