/**
 * A browser request's head travels to the client as JSON in one metadata frame, capped at
 * MAX_META_FRAME_BYTES. The head-size limit (--max-header-size, MAX_HEAD_BYTES by default) keeps
 * ordinary requests far below it; only a limit raised past what JSON of that size can carry lets
 * one through that would not fit, and that request is answered 431 here instead of breaking the
 * poll answer that would carry it.
 */

import { MAX_META_FRAME_BYTES } from '#shared/protocol/limits';
import { encodeMeta } from '#shared/protocol/message-codecs';
import type { BrowserRequest } from '../core/browser-request';

/** Room for what handover adds to the encoded meta (queuedMs, the batch wrapper). */
const HANDOVER_MARGIN_BYTES = 256;

/** Fails `request` with 431 head_too_large when its meta would not fit one frame; true if it did. */
export function failIfHeadTooLarge(request: BrowserRequest): boolean {
  const metaBytes = Buffer.byteLength(encodeMeta(request.meta), 'utf8');
  if (metaBytes + HANDOVER_MARGIN_BYTES <= MAX_META_FRAME_BYTES) return false;
  request.fail(
    'head_too_large',
    `The request's headers take ${metaBytes} bytes as tunnel metadata, over standin's limit of ${MAX_META_FRAME_BYTES - HANDOVER_MARGIN_BYTES}.`,
  );
  return true;
}
