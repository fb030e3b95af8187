/**
 * Stand-in for the shared metadata frame codec (shared/wire-frame.ts, being built for the whole
 * wire protocol), with the same API and the same format, `<length in ASCII decimal>\n<JSON>`,
 * followed by the body bytes untouched. Outbound switches to the shared codec when it lands.
 */

import type { Readable } from 'node:stream';
import { ProtocolError } from './errors';

/** Largest JSON record read by default. */
const DEFAULT_MAX_META_BYTES = 256 * 1024;

/** Encodes a JSON record as a frame: the length prefix, then the JSON, ready to be written first. */
export function encodeFrame(json: string): Buffer {
  const record = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(`${record.length}\n`, 'latin1'), record]);
}

/** Reads a frame on `stream`: its own bound, so a silent peer cannot hold the reader forever. */
export interface ReadFrameOptions {
  maxMetaBytes?: number;
  timeoutMs?: number;
}

/** Reads the frame at the start of `stream` and resolves with its JSON text; the stream is left at the first body byte. */
export function readFrame(stream: Readable, options: ReadFrameOptions = {}): Promise<string> {
  const maxMetaBytes = options.maxMetaBytes ?? DEFAULT_MAX_META_BYTES;
  return new Promise((resolve, reject) => {
    let digits = '';
    let metaBytes: number | undefined;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => fail(new ProtocolError(`no complete metadata frame within ${options.timeoutMs} ms`)), options.timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', fail);
      stream.off('close', onEnd);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onEnd = () => fail(new ProtocolError('the message ended before its metadata frame was complete'));
    const onReadable = () => {
      try {
        while (metaBytes === undefined) {
          const byte = stream.read(1) as Buffer | null;
          if (byte === null) return;
          if (byte[0] === 0x0a) {
            metaBytes = Number(digits);
            if (!digits || metaBytes === 0 || metaBytes > maxMetaBytes) throw new ProtocolError(`bad metadata frame length "${digits}"`);
          } else if (byte[0] >= 0x30 && byte[0] <= 0x39 && digits.length < 7) {
            digits += String.fromCharCode(byte[0]);
          } else {
            throw new ProtocolError('the message does not start with a metadata frame');
          }
        }
        const record = stream.read(metaBytes) as Buffer | null;
        if (record === null) return;
        if (record.length !== metaBytes) throw new ProtocolError('the message ended inside its metadata frame');
        cleanup();
        resolve(record.toString('utf8'));
      } catch (error) {
        fail(error as Error);
      }
    };
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', fail);
    stream.once('close', onEnd);
  });
}
