/**
 * Answers for endpoints a person opens in a browser (/_standin/select/<name>): a short HTML
 * page when the browser asks for HTML, the usual JSON error otherwise (curl, scripts).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientApiErrorCode } from '#shared/protocol/error-codes';
import { replyError } from '../http/json-reply';
import { escapeHtml } from '../http/error-page';

/** Sends `message` as a page to a browser, or as `{ error, message }` JSON to anything else. */
export function replyToBrowserOrScript(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  error: ClientApiErrorCode,
  title: string,
  message: string,
): void {
  if (!String(req.headers.accept ?? '').includes('text/html')) return replyError(res, status, error, message);
  if (res.headersSent || res.destroyed) return;
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${status} ${escapeHtml(title)} · standin</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
<p><small>Answered by standin.</small></p></body></html>
`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(page),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : page);
}
