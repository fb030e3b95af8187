/**
 * `localhost` means both loopback addresses. Dev servers differ in which one they bind: Vite on
 * Node 17+ often listens on ::1 only, others on 127.0.0.1 only, and /etc/hosts may list only
 * one of them. curl and browsers try both; so does the client: this lookup answers `localhost`
 * with ::1 and 127.0.0.1 (RFC 6761 §6.3: localhost is always loopback), and with
 * `autoSelectFamily` Node tries each address in turn until one accepts.
 */

import dns from 'node:dns';
import type { LookupFunction } from 'node:net';

const LOOPBACK_ADDRESSES: dns.LookupAddress[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];

/** A dns.lookup that resolves `localhost` to both loopback addresses and anything else as usual. */
export const lookupBothLoopbacks: LookupFunction = (hostname, options, callback) => {
  if (hostname.toLowerCase() !== 'localhost') return dns.lookup(hostname, options, callback);
  const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
  const addresses = LOOPBACK_ADDRESSES.filter((entry) => family === 0 || entry.family === family);
  if (options.all) return (callback as unknown as (error: null, addresses: dns.LookupAddress[]) => void)(null, addresses);
  callback(null, addresses[0].address, addresses[0].family);
};

/** Socket options that reach a `localhost` target on whichever loopback address it listens. */
export const BOTH_LOOPBACKS = { autoSelectFamily: true, lookup: lookupBothLoopbacks } as const;
