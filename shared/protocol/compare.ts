/**
 * The compare part of the wire protocol: the inspector's "Compare with the cluster" sends a
 * captured request through the server to its `--fallback` app (the in-cluster app the laptop
 * stands in for), and shows that answer beside the local app's.
 *
 * - POST /_standin/v1/tunnels/<name>/compare, with the token and the session header like every
 *   client call, body: a JSON CompareRequest (at most MAX_COMPARE_REQUEST_JSON_BYTES).
 *   → 200 with a JSON CompareResponse: the fallback's status, headers and the first
 *     MAX_COMPARE_RESPONSE_BODY_BYTES of its body.
 *   → 409 `no_fallback`: this server has no --fallback; 502 `fallback_unreachable`;
 *     504 `fallback_timeout`; 404 `unknown_session` (not this tunnel's owner session);
 *     400 `bad_request`, 413 `payload_too_large`.
 *
 * The request names no destination: the server only ever sends it to its configured fallback.
 * Everything is small and whole (no streaming): a comparison is of two bounded bodies.
 */

import http from 'node:http';
import { ProtocolError } from '../errors';
import type { RawHeaders } from './messages';

/** The largest request body a comparison sends (an edited replay's bound). */
export const MAX_COMPARE_REQUEST_BODY_BYTES = 1024 * 1024;

/** The JSON carrying that body in base64, plus headers. */
export const MAX_COMPARE_REQUEST_JSON_BYTES = Math.ceil((MAX_COMPARE_REQUEST_BODY_BYTES * 4) / 3) + 256 * 1024;

/** How much of the fallback's body comes back: enough to compare pages and API answers. */
export const MAX_COMPARE_RESPONSE_BODY_BYTES = 256 * 1024;

/** What the client sends. */
export interface CompareRequest {
  method: string;
  /** Origin-form path and query. */
  path: string;
  /** The headers to send; the server drops hop-by-hop and X-Standin-* ones and adds its own request id. */
  headers: RawHeaders;
  bodyBase64: string;
}

/** What the server answers with 200. */
export interface CompareResponse {
  /** The id the fallback got in X-Standin-Request-Id (find it in the cluster app's logs). */
  requestId: string;
  status: number;
  /** Hop-by-hop headers removed. */
  headers: RawHeaders;
  /** The first MAX_COMPARE_RESPONSE_BODY_BYTES of the body. */
  bodyBase64: string;
  /** The whole body's size, as far as it was read (more when `truncated`). */
  totalBytes: number;
  truncated: boolean;
  durationMs: number;
}

/** Error codes of the compare endpoint beyond the client API's own. */
export type CompareErrorCode = 'no_fallback' | 'fallback_unreachable' | 'fallback_timeout';

/** An RFC 9110 token, as a method must be. */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** Parses a CompareRequest from untrusted JSON, or throws ProtocolError saying what is wrong. */
export function parseCompareRequest(value: unknown): CompareRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProtocolError('compare body must be a JSON object');
  const body = value as Record<string, unknown>;
  if (typeof body.method !== 'string' || !METHOD.test(body.method) || body.method.toUpperCase() === 'CONNECT') {
    throw new ProtocolError('compare method must be an HTTP method other than CONNECT');
  }
  // Origin-form only: an absolute URL or `//host` would name a destination, and none is taken.
  if (typeof body.path !== 'string' || !body.path.startsWith('/') || body.path.startsWith('//') || body.path.length > 8192) {
    throw new ProtocolError('compare path must be an origin-form path (starting with one /) of at most 8192 characters');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f]|[^\x00-\xff]/.test(body.path)) throw new ProtocolError('compare path must not contain spaces or control characters');
  if (
    !Array.isArray(body.headers) ||
    body.headers.length > 400 ||
    body.headers.length % 2 !== 0 ||
    !body.headers.every((item) => typeof item === 'string')
  ) {
    throw new ProtocolError('compare headers must be a flat list of at most 200 name, value pairs of strings');
  }
  const headers = body.headers;
  for (let i = 0; i < headers.length; i += 2) {
    try {
      http.validateHeaderName(headers[i]);
      http.validateHeaderValue(headers[i], headers[i + 1]);
    } catch {
      throw new ProtocolError(`compare header ${JSON.stringify(headers[i].slice(0, 60))} is not a valid HTTP header`);
    }
  }
  if (typeof body.bodyBase64 !== 'string') throw new ProtocolError('compare bodyBase64 must be a string');
  return { method: body.method, path: body.path, headers: body.headers, bodyBase64: body.bodyBase64 };
}
