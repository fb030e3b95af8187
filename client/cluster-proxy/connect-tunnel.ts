/**
 * CONNECT tunnels of the cluster proxy: which host:port each was opened for, so the plain HTTP
 * requests read from it go there.
 */

/** The host:port each CONNECT tunnel was opened for: the requests in it go there, whatever their Host says. */
const tunnelAuthority = new WeakMap<object, string>();

/** The destination of requests read from a CONNECT tunnel, or undefined for a plain connection. */
export function tunnelDestination(socket: object): string | undefined {
  return tunnelAuthority.get(socket);
}

/** A CONNECT target: a host name or bracketed IPv6 literal, and a port. */
const CONNECT_TARGET = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+):(\d{1,5})$/;

/** `host:port` of a CONNECT target, lower case (IPv6 in brackets), or undefined when it is not one. */
export function connectAuthority(target: string | undefined): string | undefined {
  const match = CONNECT_TARGET.exec((target ?? '').toLowerCase());
  if (!match) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? `${match[1]}:${port}` : undefined;
}

/** Marks `socket` as a CONNECT tunnel to `authority`. */
export function markTunnel(socket: object, authority: string): void {
  tunnelAuthority.set(socket, authority);
}
