/**
 * Which peers are proxies whose forwarding headers standin believes (--trust-proxy <cidr…>,
 * default loopback and private ranges, where a cluster's proxies live). From anyone else,
 * `X-Forwarded-Host` and `X-Forwarded-Proto` are standin's own; they steer the app's absolute
 * URLs and the client's Location rewrite, so a browser must not set them. Trust is decided once
 * per connection, when it is accepted (http-listener.ts).
 */

import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ConfigError } from '#shared/errors';

/** Default of --trust-proxy: loopback, RFC 1918 and RFC 4193 (unique local IPv6) ranges. */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
];

/** A set of address ranges. */
export class TrustedProxies {
  private readonly ranges = new net.BlockList();

  /** Throws ConfigError on a range that is not `<address>/<prefix>` or an address. */
  constructor(readonly cidrs: readonly string[]) {
    for (const cidr of cidrs) addRange(this.ranges, cidr);
  }

  /** Whether `address` (as Node reports a peer) is in one of the ranges. */
  includes(address: string | undefined): boolean {
    if (!address) return false;
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    const family = net.isIPv4(plain) ? 'ipv4' : net.isIPv6(plain) ? 'ipv6' : undefined;
    return family !== undefined && this.ranges.check(plain, family);
  }
}

/** Parses --trust-proxy values: CIDRs or addresses, comma or space separated; `none` trusts nobody. */
export function parseTrustedProxies(values: readonly string[]): TrustedProxies {
  const cidrs = values.flatMap((value) => value.split(/[\s,]+/)).filter((value) => value.length > 0);
  if (cidrs.length === 1 && cidrs[0].toLowerCase() === 'none') return new TrustedProxies([]);
  return new TrustedProxies(cidrs);
}

function addRange(ranges: net.BlockList, cidr: string): void {
  const [address, prefixText, extra] = cidr.split('/');
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
  const maxPrefix = family === 'ipv4' ? 32 : 128;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (
    !family ||
    extra !== undefined ||
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > maxPrefix ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  ) {
    throw new ConfigError(`--trust-proxy "${cidr}" is not an address range like 10.0.0.0/8 or fd00::/8`);
  }
  ranges.addSubnet(address, prefix, family);
}

const trustedSockets = new WeakMap<Socket, boolean>();
const defaultTrust = new TrustedProxies(DEFAULT_TRUSTED_PROXIES);

/** Records, when a connection is accepted, whether its peer is a trusted proxy. */
export function decidePeerTrust(socket: Socket, trusted: TrustedProxies): void {
  trustedSockets.set(socket, trusted.includes(socket.remoteAddress));
}

/**
 * A browser request another replica passed on (replica mode): what that replica knew of the
 * browser's connection. Such a request is judged as the first replica would have judged it.
 */
export interface ForwardedPeer {
  /** The first replica's peer: the browser, or the proxy in front of it. */
  address: string;
  /** Whether the first replica trusted that peer as a proxy. */
  trusted: boolean;
  /** Whether that connection was TLS. */
  tls: boolean;
}

const forwardedPeers = new WeakMap<IncomingMessage, ForwardedPeer>();

/** Records what the replica that passed `req` on knew of its connection. */
export function recordForwardedPeer(req: IncomingMessage, peer: ForwardedPeer): void {
  forwardedPeers.set(req, peer);
}

/** The connection `req` came in on, as the first standin replica it reached saw it. */
export function peerOf(req: IncomingMessage): ForwardedPeer {
  const forwarded = forwardedPeers.get(req);
  if (forwarded) return forwarded;
  const address = req.socket.remoteAddress ?? 'unknown';
  return {
    address: address.startsWith('::ffff:') ? address.slice(7) : address,
    trusted: trustedSockets.get(req.socket) ?? defaultTrust.includes(req.socket.remoteAddress),
    tls: (req.socket as { encrypted?: boolean }).encrypted === true,
  };
}

/** Whether the peer of `req` is a trusted proxy (for a connection no listener decided on: the default ranges). */
export function isFromTrustedProxy(req: IncomingMessage): boolean {
  return peerOf(req).trusted;
}

/** A host (name, IPv4 or bracketed IPv6) with an optional port: what X-Forwarded-Host may say. */
const FORWARDED_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** The protocol the browser used: a trusted proxy's `X-Forwarded-Proto` when it says http or https, else this connection's. */
export function forwardedProto(req: IncomingMessage): 'http' | 'https' {
  if (isFromTrustedProxy(req)) {
    const claimed = firstValue(req.headers['x-forwarded-proto'])?.toLowerCase();
    if (claimed === 'http' || claimed === 'https') return claimed;
  }
  return peerOf(req).tls ? 'https' : 'http';
}

/** The host the browser asked for: a trusted proxy's valid `X-Forwarded-Host`, else the Host header. */
export function forwardedHost(req: IncomingMessage): string | undefined {
  if (isFromTrustedProxy(req)) {
    const claimed = firstValue(req.headers['x-forwarded-host']);
    if (claimed !== undefined && FORWARDED_HOST.test(claimed)) return claimed;
  }
  return req.headers.host;
}

/**
 * The address a request comes from: for a trusted proxy, the last address its X-Forwarded-For
 * names (the peer that proxy saw), else the peer itself. For per-source bounds.
 */
export function sourceAddressOf(req: IncomingMessage): string {
  const { address: plainPeer, trusted } = peerOf(req);
  if (!trusted) return plainPeer;
  const chain = req.headers['x-forwarded-for'];
  const last = (Array.isArray(chain) ? chain.join(',') : chain)?.split(',').pop()?.trim();
  return last && net.isIP(last) ? last : plainPeer;
}

/** The first element of a list header (`a, b` → `a`), trimmed. */
function firstValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  return text.split(',')[0].trim();
}
