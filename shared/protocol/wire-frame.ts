/**
 * The metadata frame at the start of every poll answer and respond POST body (messages.ts):
 *
 *     <length of the JSON in bytes, ASCII decimal>\n<JSON><raw body bytes ...>
 *
 * e.g. `27\n{"kind":"probe","id":"..."}`. The JSON stays readable in a packet capture, the body
 * bytes follow untouched, and no header grows with user data, so proxy header limits never
 * meet a browser's cookies or an app's Set-Cookie.
 *
 * The reader takes exactly the frame off the front of a Readable and leaves everything after it
 * in the stream's own buffer, so the same stream then reads as the body: no copy of the body, no
 * second stream, backpressure unchanged.
 */

import type { Readable } from 'node:stream';
import { ProtocolError } from '../errors';
import { MAX_META_FRAME_BYTES } from './limits';

/** Most digits the length prefix may have (MAX_META_FRAME_BYTES has 6). */
const MAX_PREFIX_DIGITS = 7;

const NEWLINE = 0x0a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Encodes a JSON record as a frame: the length prefix, then the JSON, ready to be written first. */
export function encodeFrame(json: string): Buffer {
  const record = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(`${record.length}\n`, 'latin1'), record]);
}

/** How many bytes encodeFrame(json) takes, without building it (for Content-Length). */
export function frameLength(json: string): number {
  const recordBytes = Buffer.byteLength(json, 'utf8');
  return String(recordBytes).length + 1 + recordBytes;
}

/** Reads a frame on `stream`: its own bound, so a silent peer cannot hold the reader forever. */
export interface ReadFrameOptions {
  /** Largest JSON record accepted (default MAX_META_FRAME_BYTES). */
  maxMetaBytes?: number;
  /** Give up after this long without a complete frame (default: no own timer). */
  timeoutMs?: number;
}

/**
 * Reads the frame at the start of `stream` and resolves with its JSON text; the stream is left
 * positioned at the first body byte. Rejects with ProtocolError when the prefix is not a decimal
 * length, the record is over the cap, or the stream ends (or times out) before the record is
 * complete; rejects with the stream's own error when it fails.
 *
 * Uses read(n) with exact sizes: it never takes a body byte, and it never asks for more than
 * is there once the stream ended, which would make Node emit 'end' before the caller listens.
 */
export function readFrame(stream: Readable, options: ReadFrameOptions = {}): Promise<string> {
  const maxMetaBytes = options.maxMetaBytes ?? MAX_META_FRAME_BYTES;
  return new Promise((resolve, reject) => {
    let digits = '';
    let metaBytes: number | undefined;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => fail(new ProtocolError(`no complete metadata frame within ${options.timeoutMs} ms`)), options.timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', fail);
      stream.off('close', onClose);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onEnd = () => fail(new ProtocolError('the message ended before its metadata frame was complete'));
    const onClose = () => fail(new ProtocolError('the connection closed before the metadata frame was complete'));
    const onReadable = () => {
      try {
        // The prefix, a byte at a time: at most MAX_PREFIX_DIGITS + 1 reads per message.
        while (metaBytes === undefined) {
          const byte = stream.read(1) as Buffer | null;
          if (byte === null) return;
          metaBytes = takePrefixByte(byte[0], digits, maxMetaBytes);
          if (metaBytes === undefined) digits += String.fromCharCode(byte[0]);
        }
        if (metaBytes === 0) throw new ProtocolError('the metadata frame is empty');
        const record = stream.read(metaBytes) as Buffer | null;
        if (record === null) return;
        // After the end, read(n) hands over what is left even when it is short.
        if (record.length !== metaBytes)
          throw new ProtocolError(`the message ended ${record.length} bytes into a metadata frame of ${metaBytes}`);
        cleanup();
        resolve(record.toString('utf8'));
      } catch (error) {
        fail(error as Error);
      }
    };
    if (stream.destroyed || stream.readableEnded) {
      fail(new ProtocolError('the message was over before its metadata frame was read'));
      return;
    }
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', fail);
    stream.once('close', onClose);
  });
}

/** One byte of the length prefix: the declared length once it is the newline, else undefined. */
function takePrefixByte(byte: number, digitsSoFar: string, maxMetaBytes: number): number | undefined {
  if (byte === NEWLINE) {
    if (digitsSoFar.length === 0) throw new ProtocolError('the metadata frame has no length before its newline');
    const length = Number(digitsSoFar);
    if (length > maxMetaBytes) throw new ProtocolError(`the metadata frame declares ${length} bytes, over the limit of ${maxMetaBytes}`);
    return length;
  }
  if (byte < DIGIT_0 || byte > DIGIT_9)
    throw new ProtocolError(
      `the message does not start with a metadata frame (byte 0x${byte.toString(16).padStart(2, '0')} where a decimal length belongs)`,
    );
  if (digitsSoFar.length >= MAX_PREFIX_DIGITS)
    throw new ProtocolError(`the metadata frame length has more than ${MAX_PREFIX_DIGITS} digits`);
  return undefined;
}
