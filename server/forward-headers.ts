/**
 * The headers the local app receives (DESIGN.md "Trace headers"): the browser's headers without
 * hop-by-hop ones and without any X-Standin-* a browser could spoof, plus request ids, forwarding
 * headers, Via and a W3C traceparent. Host stays the browser's here; the client rewrites it to
 * the target unless --preserve-host.
 */

import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { getHeader, setHeader, withoutHopByHop } from '../shared/http-headers';
import { HEADER, VIA_VALUE, type RawHeaders } from '../shared/protocol';

/** An `X-Request-Id` we pass on unchanged: short and plain, so it cannot inject into logs. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:@+=\/-]{1,128}$/;

/** W3C Trace Context: version-traceid-parentid-flags (https://www.w3.org/TR/trace-context/#traceparent-header). */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Never forwarded: standin's own headers (a browser must not spoof them), and `Expect`, which
 * Node's server has already answered with 100 Continue on this hop (RFC 9110 §10.1.1).
 */
const DROPPED_HEADERS = new Set([HEADER.requestId, HEADER.tunnel, HEADER.error, HEADER.meta, HEADER.session, 'expect']);

/** Builds the app-bound headers for one browser request (`tunnel` absent: bound for --fallback). */
export function buildForwardHeaders(req: IncomingMessage, requestId: string, tunnel?: string): RawHeaders {
  const headers = withoutHopByHop(req.rawHeaders, DROPPED_HEADERS);
  const incomingRequestId = getHeader(headers, HEADER.xRequestId);
  if (incomingRequestId === undefined || !SAFE_REQUEST_ID.test(incomingRequestId)) {
    setHeader(headers, 'X-Request-Id', requestId);
  }
  headers.push('X-Standin-Request-Id', requestId);
  if (tunnel !== undefined) headers.push('X-Standin-Tunnel', tunnel);
  appendHeader(headers, 'X-Forwarded-For', clientAddress(req));
  if (getHeader(headers, HEADER.forwardedHost) === undefined && req.headers.host) {
    headers.push('X-Forwarded-Host', req.headers.host);
  }
  if (getHeader(headers, HEADER.forwardedProto) === undefined) {
    headers.push('X-Forwarded-Proto', isTlsSocket(req) ? 'https' : 'http');
  }
  appendHeader(headers, 'Via', VIA_VALUE);
  setHeader(headers, 'traceparent', continueTrace(getHeader(headers, HEADER.traceparent)));
  return headers;
}

/** A traceparent for standin's hop: same trace and flags when one came in, else a new sampled trace. */
export function continueTrace(incoming: string | undefined): string {
  const match = incoming === undefined ? null : TRACEPARENT.exec(incoming.trim());
  const spanId = randomHex(8);
  if (match && !/^0+$/.test(match[1])) return `00-${match[1]}-${spanId}-${match[3]}`;
  return `00-${randomHex(16)}-${spanId}-01`;
}

/**
 * Fields for the log from incoming trace headers: `traceparent` and every `X-*-Id`
 * (`X-Correlation-Id` → `correlationId`), so a request can be found across logs.
 */
export function traceFields(rawHeaders: RawHeaders): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name === 'traceparent') fields.traceparent = rawHeaders[i + 1].slice(0, 128);
    else if (name.startsWith('x-') && name.endsWith('-id') && !name.startsWith('x-standin-')) {
      fields[camelCase(name.slice(2))] = rawHeaders[i + 1].slice(0, 128);
    }
  }
  return fields;
}

function camelCase(dashed: string): string {
  return dashed.replace(/-([a-z0-9])/g, (_, char: string) => char.toUpperCase());
}

function appendHeader(headers: RawHeaders, name: string, value: string): void {
  const existing = getHeader(headers, name.toLowerCase());
  setHeader(headers, name, existing ? `${existing}, ${value}` : value);
}

function clientAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function isTlsSocket(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}
