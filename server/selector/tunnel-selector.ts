/**
 * Which tunnel a request on the main port selects (docs/design.md "Routing", selector mode).
 *
 * Precedence, first match wins:
 * 1. header `X-Standin-Tunnel: <name>`: set per request (curl, a header extension, a test), so it
 *    is the most deliberate choice and overrides a cookie the browser happens to hold;
 * 2. cookie `standin-tunnel=<name>`: set by /_standin/select/<name>, sticks to one browser;
 * 3. host `<name>.<anything>`: only when the first label names a registered tunnel, so that
 *    `www.example.com` or `shop.example.com` never count as selectors.
 * A header or cookie whose value is not a tunnel name (a DNS label) is ignored, as if absent.
 */

import type { IncomingMessage } from 'node:http';
import { HEADER, TUNNEL_COOKIE } from '#shared/protocol/headers';
import { NO_TUNNEL_NAME, TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';
import { readCookie } from '../http/read-cookie';
import type { TunnelRegistry } from '../core/tunnel-registry';

/** How a request named its tunnel. */
export type SelectorKind = 'header' | 'cookie' | 'host';

/** A tunnel a request selected; the tunnel may be unknown or offline. */
export interface TunnelSelection {
  name: string;
  by: SelectorKind;
}

/** The tunnel `req` selects, or undefined when it selects none. */
export function selectTunnel(req: IncomingMessage, registry: TunnelRegistry): TunnelSelection | undefined {
  const fromHeader = asTunnelName(req.headers[HEADER.tunnel]);
  if (fromHeader) return { name: fromHeader, by: 'header' };
  const fromCookie = asTunnelName(readCookie(req.headers.cookie, TUNNEL_COOKIE));
  if (fromCookie) return { name: fromCookie, by: 'cookie' };
  const fromHost = hostLabel(req.headers.host);
  if (fromHost && registry.get(fromHost)) return { name: fromHost, by: 'host' };
  return undefined;
}

/** The first label of `<label>.<rest>` (port dropped, lower case), or undefined for a bare host or an IP. */
export function hostLabel(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const hostname = host.replace(/:\d+$/, '').toLowerCase();
  const dot = hostname.indexOf('.');
  if (dot <= 0 || dot === hostname.length - 1) return undefined;
  const label = hostname.slice(0, dot);
  // An IPv4 address's first octet would otherwise pass as a label.
  if (/^\d+$/.test(label)) return undefined;
  return asTunnelName(label);
}

function asTunnelName(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  const name = value.trim().toLowerCase();
  return TUNNEL_NAME_PATTERN.test(name) && name !== NO_TUNNEL_NAME ? name : undefined;
}
