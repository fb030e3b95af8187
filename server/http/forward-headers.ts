/**
 * The headers the local app receives (docs/design.md "Trace headers"): the browser's headers without
 * hop-by-hop ones and without any X-Standin-* a browser could spoof, plus request ids, forwarding
 * headers (X-Forwarded-Host and -Proto from a trusted proxy only: trusted-proxies.ts), Via and a
 * W3C traceparent. Host stays the browser's here; the client rewrites it to
 * the target unless --preserve-host.
 */

import type { IncomingMessage } from 'node:http';
import { connectionTokens, HOP_BY_HOP_HEADERS } from '#shared/http-headers';
import { randomHex } from '#shared/random-ids';
import { HEADER, VIA_VALUE } from '#shared/protocol/headers';
import type { RawHeaders } from '#shared/protocol/messages';
import { forwardedHost, forwardedProto, peerOf } from './trusted-proxies';

/** An `X-Request-Id` we pass on unchanged: short and plain, so it cannot inject into logs. */
export const SAFE_REQUEST_ID = /^[A-Za-z0-9._:@+=/-]{1,128}$/;

/** W3C Trace Context: version-traceid-parentid-flags (https://www.w3.org/TR/trace-context/#traceparent-header). */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Never forwarded: `Expect`, which standin answers itself on this hop (expect-continue.ts), and
 * the forwarding headers standin sets itself below (a trusted proxy's values are kept there).
 * Every `X-Standin-*` header goes too (STANDIN_HEADER_PREFIX): a browser must not spoof ours.
 */
const DROPPED_HEADERS = new Set(['expect', HEADER.forwardedHost, HEADER.forwardedProto]);

/** Standin's own headers start with this; none that a browser sends is passed on. */
const STANDIN_HEADER_PREFIX = 'x-standin-';

/**
 * Builds the app-bound headers for one browser request (`tunnel` absent: bound for --fallback).
 * One pass over the browser's headers, each name lower-cased once (this runs per request):
 * hop-by-hop and dropped headers go; X-Forwarded-For, Via and traceparent are set at the place
 * of their first occurrence, and their later duplicates dropped.
 */
export function buildForwardHeaders(req: IncomingMessage, requestId: string, tunnel?: string): RawHeaders {
  const raw = req.rawHeaders;
  const namedInConnection = req.headers.connection === undefined ? undefined : connectionTokens(raw);
  const headers: RawHeaders = [];
  let incomingRequestId: 'none' | 'kept' | 'replaced' = 'none';
  let forwardedForAt = -1;
  let viaAt = -1;
  let traceparentAt = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(name) || DROPPED_HEADERS.has(name) || name.startsWith(STANDIN_HEADER_PREFIX) || namedInConnection?.has(name))
      continue;
    const value = raw[i + 1];
    switch (name) {
      case HEADER.xRequestId:
        // The first one decides: a safe id is kept with any duplicates; otherwise the standin id
        // takes its place and the duplicates go.
        if (incomingRequestId === 'replaced') continue;
        if (incomingRequestId === 'none') {
          incomingRequestId = SAFE_REQUEST_ID.test(value) ? 'kept' : 'replaced';
          if (incomingRequestId === 'replaced') {
            headers.push(raw[i], requestId);
            continue;
          }
        }
        break;
      case HEADER.forwardedFor:
        if (forwardedForAt >= 0) continue;
        forwardedForAt = headers.length;
        break;
      case HEADER.via:
        if (viaAt >= 0) continue;
        viaAt = headers.length;
        break;
      case HEADER.traceparent:
        if (traceparentAt >= 0) continue;
        traceparentAt = headers.length;
        break;
    }
    headers.push(raw[i], value);
  }
  if (incomingRequestId === 'none') headers.push('X-Request-Id', requestId);
  headers.push('X-Standin-Request-Id', requestId);
  if (tunnel !== undefined) headers.push('X-Standin-Tunnel', tunnel);
  appendAt(headers, forwardedForAt, 'X-Forwarded-For', clientAddress(req));
  const host = forwardedHost(req);
  if (host) headers.push('X-Forwarded-Host', host);
  headers.push('X-Forwarded-Proto', forwardedProto(req));
  appendAt(headers, viaAt, 'Via', VIA_VALUE);
  const traceparent = continueTrace(traceparentAt >= 0 ? headers[traceparentAt + 1] : undefined);
  if (traceparentAt >= 0) headers[traceparentAt + 1] = traceparent;
  else headers.push('traceparent', traceparent);
  return headers;
}

/** A traceparent for standin's hop: same trace and flags when one came in, else a new sampled trace. */
export function continueTrace(incoming: string | undefined): string {
  const match = incoming === undefined ? null : TRACEPARENT.exec(incoming.trim());
  const spanId = randomHex(8);
  if (match && !/^0+$/.test(match[1])) return `00-${match[1]}-${spanId}-${match[3]}`;
  return `00-${randomHex(16)}-${spanId}-01`;
}

/** Appends `value` to the list header whose name is at `at` (-1: absent, so it is added). */
function appendAt(headers: RawHeaders, at: number, name: string, value: string): void {
  if (at < 0) headers.push(name, value);
  else headers[at + 1] = headers[at + 1] ? `${headers[at + 1]}, ${value}` : value;
}

function clientAddress(req: IncomingMessage): string {
  return peerOf(req).address;
}

/**
 * The request target as origin-form (`/path?query`). A request in absolute form
 * (`GET http://other.host/x`) keeps only its path: the host it names is never contacted.
 */
export function originFormPath(url: string | undefined): string {
  if (!url) return '/';
  if (url.startsWith('/')) return url;
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return '/';
  }
}
