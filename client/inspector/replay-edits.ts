/**
 * "Edit and replay": the optional JSON body of `POST /api/requests/<id>/replay`, checked before
 * anything is sent. Each field replaces the captured one; a field left out keeps it:
 *
 *   { "method": "PUT", "path": "/api/cart?debug=1",
 *     "headers": [["Content-Type", "application/json"], ["X-Debug", "1"]],
 *     "body": "{\"qty\":2}" }            (or "bodyBase64": "..." for bytes that are not text)
 *
 * The edits come from a page, so they are bounded and validated like any input from outside.
 */

import http from 'node:http';
import { StandinError } from '#shared/errors';
import type { RawHeaders } from '#shared/protocol/messages';

/** An edited body may be larger than a captured one (64 KiB), but not without bound. */
export const MAX_EDITED_BODY_BYTES = 1024 * 1024;

/** The JSON of the edits may hold a body of that size, base64-encoded, plus headers. */
export const MAX_EDITS_JSON_BYTES = Math.ceil((MAX_EDITED_BODY_BYTES * 4) / 3) + 256 * 1024;

const MAX_PATH_CHARS = 8 * 1024;
const MAX_HEADERS = 200;

/** An RFC 9110 token, as a method must be. */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** What a replay changes in the captured request. */
export interface ReplayEdits {
  method?: string;
  /** Origin-form: starts with `/`. */
  path?: string;
  /** Replaces all captured headers (Content-Length is set from the body). */
  headers?: RawHeaders;
  body?: Buffer;
}

/** The edits are not valid (answered 400 `bad_edit`, naming the field). */
export class ReplayEditError extends StandinError {
  override name = 'ReplayEditError';
  constructor(message: string) {
    super('bad_edit', message);
  }
}

/** Checks parsed JSON and returns the edits, or throws ReplayEditError. */
export function parseReplayEdits(input: unknown): ReplayEdits {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ReplayEditError('the edits must be a JSON object');
  const fields = input as Record<string, unknown>;
  const known = new Set(['method', 'path', 'headers', 'body', 'bodyBase64']);
  const unknown = Object.keys(fields).find((key) => !known.has(key));
  if (unknown !== undefined)
    throw new ReplayEditError(`unknown field ${JSON.stringify(unknown.slice(0, 40))}; allowed: ${[...known].join(', ')}`);
  const edits: ReplayEdits = {};
  if (fields.method !== undefined) edits.method = parseMethod(fields.method);
  if (fields.path !== undefined) edits.path = parsePath(fields.path);
  if (fields.headers !== undefined) edits.headers = parseHeaders(fields.headers);
  if (fields.body !== undefined && fields.bodyBase64 !== undefined) throw new ReplayEditError('give body or bodyBase64, not both');
  if (fields.body !== undefined) edits.body = parseBody(fields.body, 'utf8');
  if (fields.bodyBase64 !== undefined) edits.body = parseBody(fields.bodyBase64, 'base64');
  return edits;
}

function parseMethod(value: unknown): string {
  if (typeof value !== 'string' || !METHOD.test(value)) throw new ReplayEditError('method must be an HTTP method such as GET or POST');
  if (value.toUpperCase() === 'CONNECT') throw new ReplayEditError('CONNECT cannot be replayed to the app');
  return value;
}

function parsePath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.length > MAX_PATH_CHARS) {
    throw new ReplayEditError(`path must start with / and be at most ${MAX_PATH_CHARS} characters`);
  }
  // What cannot be on a request line: whitespace, control characters, anything past latin1.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f]|[^\x00-\xff]/.test(value))
    throw new ReplayEditError('path must not contain spaces or control characters (percent-encode them)');
  return value;
}

function parseHeaders(value: unknown): RawHeaders {
  if (!Array.isArray(value) || value.length > MAX_HEADERS)
    throw new ReplayEditError(`headers must be a list of at most ${MAX_HEADERS} [name, value] pairs`);
  const headers: RawHeaders = [];
  for (const pair of value) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new ReplayEditError('each header must be a [name, value] pair of strings');
    }
    const [name, headerValue] = pair as [string, string];
    try {
      http.validateHeaderName(name);
      http.validateHeaderValue(name, headerValue);
    } catch {
      throw new ReplayEditError(
        `header ${JSON.stringify(name.slice(0, 60))} is not a valid HTTP header (name a token, value without line breaks)`,
      );
    }
    headers.push(name, headerValue);
  }
  return headers;
}

function parseBody(value: unknown, encoding: 'utf8' | 'base64'): Buffer {
  if (typeof value !== 'string') throw new ReplayEditError(`${encoding === 'utf8' ? 'body' : 'bodyBase64'} must be a string`);
  const body = Buffer.from(value, encoding);
  if (body.length > MAX_EDITED_BODY_BYTES) throw new ReplayEditError(`the body must be at most ${MAX_EDITED_BODY_BYTES} bytes`);
  return body;
}
