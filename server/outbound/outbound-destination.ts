/** Where an outbound call goes, from the absolute URL the app asked its cluster proxy for. */

import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { StandinError } from '#shared/errors';
import { describeRefusedAddress, isAddressAllowed } from './address-policy';

/** A parsed destination. */
export interface OutboundDestination {
  /** Lower case, no brackets around an IPv6 literal, no trailing dot. */
  host: string;
  port: number;
  /** `host:port` as the Host header and the logs show it (IPv6 in brackets). */
  authority: string;
  /** Path and query, origin-form. */
  path: string;
}

/** A destination standin refuses to call (no rule, or a refused address); the app gets 403 outbound_denied. */
export class OutboundDeniedError extends StandinError {
  override name = 'OutboundDeniedError';
  constructor(message: string) {
    super('outbound_denied', message);
  }
}

/** The request cannot be sent as asked (not http://, credentials in the URL, no host). */
export class OutboundBadRequestError extends StandinError {
  override name = 'OutboundBadRequestError';
  constructor(message: string) {
    super('outbound_bad_request', message);
  }
}

/** Parses an absolute http:// URL into a destination, or throws OutboundBadRequestError. */
export function parseDestination(text: string): OutboundDestination {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new OutboundBadRequestError(`"${text.slice(0, 200)}" is not an absolute URL like http://orders.shop.svc.cluster.local/api`);
  }
  if (url.protocol !== 'http:') {
    throw new OutboundBadRequestError(
      `${url.protocol}// is not carried: the hop inside the cluster is plain HTTP, so call http://${url.host}${url.pathname}`,
    );
  }
  if (url.username || url.password)
    throw new OutboundBadRequestError('credentials in the URL are not carried; send an Authorization header instead');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (!host) throw new OutboundBadRequestError(`"${text.slice(0, 200)}" names no host`);
  const port = url.port ? Number(url.port) : 80;
  return { host, port, authority: url.port ? url.host : url.hostname, path: url.pathname + url.search };
}

/**
 * Refuses an IP-literal destination the address policy does not allow (names are checked after
 * DNS by checkedLookup; Node does not look up IP literals, so they are checked here).
 */
export function checkLiteralAddress(host: string, allowPrivate: boolean): void {
  if (isIP(host) !== 0 && !isAddressAllowed(host, allowPrivate)) throw new OutboundDeniedError(describeRefusedAddress(host, allowPrivate));
}

/**
 * A DNS lookup for node:http that hands the socket only addresses the policy allows, so the
 * address checked is the address connected to (no gap for DNS rebinding). When a name resolves
 * to some allowed and some refused addresses, only the allowed ones are used.
 */
export function checkedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { family: options.family, hints: options.hints, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const allowed = addresses.filter((entry) => isAddressAllowed(entry.address, allowPrivate));
      if (allowed.length === 0) {
        const refused = addresses[0]?.address ?? 'no address';
        return callback(new OutboundDeniedError(`${hostname} resolves to ${describeRefusedAddress(refused, allowPrivate)}`), '', 0);
      }
      // Node's typings name one callback for both shapes; with `all` it wants the list.
      if (options.all) (callback as unknown as (error: null, addresses: dns.LookupAddress[]) => void)(null, allowed);
      else callback(null, allowed[0].address, allowed[0].family);
    });
  };
}
