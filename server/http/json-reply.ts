/**
 * Small writers for JSON answers on plain node:http: the client API, select, the replicas' internal
 * calls (kept off Express: this is the data path).
 */

import type { ServerResponse } from 'node:http';
import type { ClientApiErrorCode, ErrorBody } from '#shared/protocol/error-codes';

/** Answers with a JSON error body that says what is wrong. */
export function replyError(res: ServerResponse, status: number, error: ClientApiErrorCode, message: string): void {
  replyJson(res, status, { error, message } satisfies ErrorBody);
}

/** Answers with JSON. */
export function replyJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers an idle poll: nothing to do, poll again. */
export function replyNoContent(res: ServerResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(204);
  res.end();
}
