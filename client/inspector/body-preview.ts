/**
 * The first bytes of a request or response body, for the inspector: captured while the body
 * streams through (never more than the cap, whatever the body's size) and rendered on demand
 * as pretty-printed JSON, text, or size plus hex.
 */

import { Transform, type TransformCallback } from 'node:stream';

/** How much of each body the inspector keeps (docs/design.md "Request inspector": the first 64 KiB). */
export const PREVIEW_CAP_BYTES = 64 * 1024;

/** How many leading bytes of a binary body the inspector shows as hex. */
const HEX_PREVIEW_BYTES = 256;

/** A body as the inspector shows it. */
export type BodyPreview =
  | { kind: 'empty'; totalBytes: 0 }
  | { kind: 'json' | 'text'; totalBytes: number; truncated: boolean; text: string }
  | { kind: 'binary'; totalBytes: number; truncated: boolean; hex: string };

/** Counts the bytes of a body and keeps its first `capBytes`, whatever its size. */
export class BodyPreviewBuffer {
  totalBytes = 0;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;

  constructor(private readonly capBytes: number) {}

  add(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    if (this.keptBytes < this.capBytes) {
      // Copy: the caller may reuse its buffer once the chunk is passed on.
      const slice = Buffer.from(chunk.subarray(0, this.capBytes - this.keptBytes));
      this.kept.push(slice);
      this.keptBytes += slice.length;
    }
  }

  /** The captured first bytes (at most the cap). */
  get captured(): Buffer {
    return Buffer.concat(this.kept, this.keptBytes);
  }
}

/**
 * A pass-through stream that counts the bytes going through and keeps the first `capBytes`.
 * As a Transform it keeps backpressure: it takes the next chunk only when its reader wants more.
 */
export class BodyTap extends Transform {
  readonly preview: BodyPreviewBuffer;

  constructor(capBytes: number) {
    super();
    this.preview = new BodyPreviewBuffer(capBytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.preview.add(chunk);
    callback(null, chunk);
  }
}

/** Renders captured bytes: JSON pretty-printed, text as is, anything else as size and hex. */
export function renderPreview(captured: Buffer, totalBytes: number, contentType: string | undefined): BodyPreview {
  if (totalBytes === 0) return { kind: 'empty', totalBytes: 0 };
  const truncated = totalBytes > captured.length;
  const type = (contentType ?? '').toLowerCase();
  if (!truncated && (type.includes('json') || type === '')) {
    const pretty = prettyJson(captured);
    if (pretty !== undefined) return { kind: 'json', totalBytes, truncated, text: pretty };
  }
  if (isTextType(type) || (type === '' && looksLikeText(captured))) {
    return { kind: 'text', totalBytes, truncated, text: captured.toString('utf8') };
  }
  return { kind: 'binary', totalBytes, truncated, hex: hexDump(captured.subarray(0, HEX_PREVIEW_BYTES)) };
}

function prettyJson(bytes: Buffer): string | undefined {
  try {
    return JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2);
  } catch {
    return undefined;
  }
}

function isTextType(type: string): boolean {
  return /^text\/|json|xml|javascript|ecmascript|x-www-form-urlencoded|graphql|yaml|csv/.test(type);
}

/** No NUL bytes and valid UTF-8: good enough to show as text when no Content-Type says. */
function looksLikeText(bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  return !bytes.toString('utf8').includes('\ufffd');
}

function hexDump(bytes: Buffer): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${[...row].map((byte) => byte.toString(16).padStart(2, '0')).join(' ')}`);
  }
  return lines.join('\n');
}
