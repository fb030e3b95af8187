/**
 * Which IP addresses an outbound call may connect to, checked on the address actually used
 * (after DNS), so a name that matches a rule cannot lead the server somewhere else (SSRF).
 *
 * - Public addresses: allowed.
 * - Private (RFC 1918, shared 100.64/10, IPv6 unique-local) and loopback: allowed only with
 *   --outbound-allow-private. In a cluster, Services live there, so that flag is what an admin
 *   sets together with rules like `*.svc.cluster.local`; without it, a rule for a public name
 *   cannot be turned (by DNS, or by a hostile app choosing an IP literal) into a way into the
 *   cluster or into the server's own pod.
 * - Link-local (169.254/16 with the cloud metadata endpoint 169.254.169.254, fe80::/10),
 *   unspecified, multicast, broadcast and reserved: always refused. No service an app calls
 *   over HTTP lives there, and the metadata endpoint hands out the node's cloud credentials.
 *
 * IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are judged as the IPv4 address they carry.
 */

import { BlockList, isIP } from 'node:net';

/** What kind of address an outbound call would connect to. */
export type AddressKind = 'public' | 'private' | 'loopback' | 'never';

function blockList(ranges: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const list = new BlockList();
  for (const [network, prefix, family] of ranges) list.addSubnet(network, prefix, family);
  return list;
}

const LOOPBACK = blockList([
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
]);

const PRIVATE = blockList([
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['fc00::', 7, 'ipv6'],
]);

const NEVER = blockList([
  ['0.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
]);

/** Classifies an IP address (v4 or v6); anything that is not an IP address counts as `never`. */
export function classifyAddress(address: string): AddressKind {
  const family = isIP(address);
  if (family === 0) return 'never';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (NEVER.check(address, type)) return 'never';
  if (LOOPBACK.check(address, type)) return 'loopback';
  if (PRIVATE.check(address, type)) return 'private';
  return 'public';
}

/** Whether an outbound call may connect to `address`. */
export function isAddressAllowed(address: string, allowPrivate: boolean): boolean {
  const kind = classifyAddress(address);
  return kind === 'public' || (allowPrivate && (kind === 'private' || kind === 'loopback'));
}

/** Why `address` is refused, in words for the app's error message. */
export function describeRefusedAddress(address: string, allowPrivate: boolean): string {
  const kind = classifyAddress(address);
  if (kind === 'never') return `${address} is a link-local, unspecified, multicast or reserved address, which standin never calls`;
  if (!allowPrivate) return `${address} is a ${kind} address, which standin calls only when the server runs with --outbound-allow-private`;
  return `${address} is not allowed`;
}
