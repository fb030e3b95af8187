/** Reads a small JSON request body with a size bound, without Express. */

import type { IncomingMessage } from 'node:http';
import { ProtocolError, StandinError } from '#shared/errors';

/** The body is larger than the client API accepts (answered 413). */
export class PayloadTooLargeError extends StandinError {
  override name = 'PayloadTooLargeError';
  constructor(maxBytes: number) {
    super('payload_too_large', `request body is larger than ${maxBytes} bytes`);
  }
}

/** Resolves the parsed JSON body, or rejects with PayloadTooLargeError or ProtocolError. */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      reject(new PayloadTooLargeError(maxBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(new PayloadTooLargeError(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.once('error', reject);
    req.once('end', () => {
      if (size > maxBytes) return;
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ProtocolError('request body is not valid JSON'));
      }
    });
  });
}
