/**
 * The headers an in-cluster service gets on an outbound call: the app's own, without hop-by-hop
 * ones (Proxy-Authorization included: it was for the cluster proxy), without any X-Standin-*
 * the app set, and with Host set to the destination (RFC 9112 §3.2.2: a proxy replaces Host
 * with the authority of an absolute-form target). standin adds the same trace headers as on
 * inbound traffic: X-Request-Id (the app's when it is safe), X-Standin-Request-Id,
 * X-Standin-Tunnel (whose local app is calling), Via, and a traceparent that continues the
 * app's trace when it sent one.
 */

import { withoutHopByHop } from '#shared/http-headers';
import { HEADER, VIA_VALUE } from '#shared/protocol/headers';
import type { RawHeaders } from '#shared/protocol/messages';
import { continueTrace, SAFE_REQUEST_ID } from '../http/forward-headers';

/** Never forwarded: Host is replaced; Expect was answered by the cluster proxy on the first hop. */
const REPLACED_HEADERS: ReadonlySet<string> = new Set(['host', 'expect', HEADER.traceparent, HEADER.via, HEADER.xRequestId]);

/** Builds the service-bound headers of one outbound call. */
export function buildOutboundHeaders(appHeaders: RawHeaders, requestId: string, tunnel: string, authority: string): RawHeaders {
  const headers: RawHeaders = ['Host', authority];
  let incomingTraceparent: string | undefined;
  let incomingRequestId: string | undefined;
  const vias: string[] = [];
  for (let i = 0; i < appHeaders.length; i += 2) {
    const name = appHeaders[i].toLowerCase();
    if (name === HEADER.traceparent) incomingTraceparent ??= appHeaders[i + 1];
    else if (name === HEADER.xRequestId) incomingRequestId ??= appHeaders[i + 1];
    else if (name === HEADER.via) vias.push(appHeaders[i + 1]);
  }
  const kept = withoutHopByHop(appHeaders);
  for (let i = 0; i < kept.length; i += 2) {
    const name = kept[i].toLowerCase();
    if (REPLACED_HEADERS.has(name) || name.startsWith('x-standin-')) continue;
    headers.push(kept[i], kept[i + 1]);
  }
  const safeRequestId = incomingRequestId !== undefined && SAFE_REQUEST_ID.test(incomingRequestId);
  headers.push('X-Request-Id', safeRequestId ? incomingRequestId! : requestId);
  headers.push('X-Standin-Request-Id', requestId, 'X-Standin-Tunnel', tunnel);
  headers.push('Via', [...vias, VIA_VALUE].join(', '));
  headers.push('traceparent', continueTrace(incomingTraceparent));
  return headers;
}
