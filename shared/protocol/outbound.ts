/**
 * The outbound part of the wire protocol: the local app calls an in-cluster service through the
 * client's cluster proxy, and the server makes the call.
 *
 * - Outbound: POST /_standin/v1/tunnels/<name>/outbound, with the session header like poll and
 *   respond. The body starts with a frame holding an OutboundRequestMeta (method, absolute URL,
 *   the app's headers); the bytes after it are the app's request body, streamed.
 *   → 200: the body starts with a frame holding an OutboundResponseMeta (the service's status
 *     and headers); the bytes after it are the service's response body, streamed. A cut body
 *     (the service broke off) is a cut HTTP body, never a short complete one.
 *   → 4xx/5xx with a JSON OutboundErrorBody: the call was refused or failed before a response
 *     head (`outbound_denied`, `outbound_unreachable`, `outbound_timeout`, or a client API error
 *     such as `unauthorized` or `unknown_session`).
 *
 * Metadata travels in the body, never in HTTP headers, so it does not grow the control
 * connection's headers with the app's data.
 */

import { ProtocolError } from '../errors';
import type { RawHeaders } from './messages';
import { expectInteger, expectObject, expectRawHeaders, expectString, parseJson } from './json-checks';
import { REQUEST_ID_PATTERN } from './paths';

/** What a cluster proxy sends at the start of an outbound POST body. */
export interface OutboundRequestMeta {
  kind: 'outbound-request';
  /** The request id (uuid v4), made by the client so its log line exists even when the call fails. */
  id: string;
  method: string;
  /** Absolute http:// URL of the destination, as the app asked for it. */
  url: string;
  /** The app's headers as it sent them (the server removes hop-by-hop ones and adds trace headers). */
  headers: RawHeaders;
}

/** What the server sends at the start of a 200 answer to an outbound POST. */
export interface OutboundResponseMeta {
  kind: 'outbound-response';
  status: number;
  /** The service's headers, hop-by-hop ones removed. */
  headers: RawHeaders;
}

/** Why standin itself answered an outbound call, with the status the app gets. */
export const OUTBOUND_ERROR_STATUS = {
  /** No --outbound-allow rule matches the destination, or it resolves to an address that is refused. */
  outbound_denied: 403,
  /** The destination could not be resolved, refused the connection, or broke it before a response head. */
  outbound_unreachable: 502,
  /** The destination sent no response head within the server's --request-timeout. */
  outbound_timeout: 504,
  /** The app asked for something the cluster proxy does not carry (CONNECT, https://, an upgrade). */
  outbound_unsupported: 501,
  /** The standin client has no session with its server right now (connecting, reconnecting, stopped). */
  outbound_offline: 503,
  /** The cluster proxy already carries MAX_OUTBOUND_CALLS calls at once. */
  outbound_busy: 503,
  /** The request itself is not one the proxy can send (no host, bad URL). */
  outbound_bad_request: 400,
} as const;

/** A code standin answers an outbound call with. */
export type OutboundErrorCode = keyof typeof OUTBOUND_ERROR_STATUS;

/** JSON body of a non-200 answer to an outbound POST (the `error` may also be a client API code). */
export interface OutboundErrorBody {
  error: string;
  message: string;
}

/** An HTTP method token (RFC 9110 §9.1). */
const METHOD_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** Parses the frame (JSON text) of an outbound POST, or throws ProtocolError saying what is wrong. */
export function parseOutboundRequestMeta(json: string): OutboundRequestMeta {
  const meta = expectObject(parseJson(json), 'outbound request meta');
  if (meta.kind !== 'outbound-request')
    throw new ProtocolError(`meta kind must be "outbound-request", got ${JSON.stringify(meta.kind)}`.slice(0, 200));
  const id = expectString(meta.id, 'id');
  if (!REQUEST_ID_PATTERN.test(id)) throw new ProtocolError('id of an outbound request must be a uuid v4');
  const method = expectString(meta.method, 'method');
  if (!METHOD_PATTERN.test(method)) throw new ProtocolError('method of an outbound request is not an HTTP method token');
  return { kind: 'outbound-request', id, method, url: expectString(meta.url, 'url'), headers: expectRawHeaders(meta.headers) };
}

/** Parses the frame (JSON text) of a 200 answer to an outbound POST, or throws ProtocolError. */
export function parseOutboundResponseMeta(json: string): OutboundResponseMeta {
  const meta = expectObject(parseJson(json), 'outbound response meta');
  if (meta.kind !== 'outbound-response')
    throw new ProtocolError(`meta kind must be "outbound-response", got ${JSON.stringify(meta.kind)}`.slice(0, 200));
  const status = expectInteger(meta.status, 'status of an outbound response', 200, 999);
  return { kind: 'outbound-response', status, headers: expectRawHeaders(meta.headers) };
}
