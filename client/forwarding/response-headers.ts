/**
 * The app's response headers as the browser should see them: hop-by-hop headers removed
 * (RFC 9110 §7.6.1), and a `Location` that points at the local target rewritten to the public
 * origin the browser used, so redirects do not send the browser to its own localhost.
 */

import { getHeader, withoutHopByHop } from '#shared/http-headers';
import { HEADER } from '#shared/protocol/headers';
import type { RawHeaders } from '#shared/protocol/messages';

/** Prepares app response headers for the browser of the request whose headers are `requestHeaders`. */
export function toBrowserHeaders(appHeaders: RawHeaders, requestHeaders: RawHeaders, target: URL): RawHeaders {
  const headers = withoutHopByHop(appHeaders);
  const publicOrigin = publicOriginOf(requestHeaders);
  if (!publicOrigin) return headers;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() === 'location') headers[i + 1] = rewriteLocation(headers[i + 1], target, publicOrigin);
  }
  return headers;
}

/** Replaces the target's origin in an absolute Location with the public origin. */
export function rewriteLocation(location: string, target: URL, publicOrigin: string): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location; // Relative: already right for the browser.
  }
  if (!pointsAtTarget(url, target)) return location;
  return publicOrigin + location.slice(url.origin.length);
}

function pointsAtTarget(url: URL, target: URL): boolean {
  if (url.protocol !== target.protocol || url.port !== target.port) return false;
  return url.hostname === target.hostname || (LOOPBACK_NAMES.has(url.hostname) && LOOPBACK_NAMES.has(target.hostname));
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '0.0.0.0']);

/** `proto://host` the browser used, from the forwarding headers the server added. */
function publicOriginOf(requestHeaders: RawHeaders): string | undefined {
  const host = firstValue(getHeader(requestHeaders, HEADER.forwardedHost));
  if (!host) return undefined;
  const proto = firstValue(getHeader(requestHeaders, HEADER.forwardedProto)) ?? 'http';
  return `${proto}://${host}`;
}

function firstValue(header: string | undefined): string | undefined {
  return header?.split(',')[0].trim() || undefined;
}
