/**
 * A cap on the open connections of one source address (--max-connections-per-source), so one
 * host cannot hold every file descriptor of the server with idle or slow connections. Behind a
 * cluster proxy all browsers share the proxy's addresses, so the default is generous; the cap
 * is against a single host that opens thousands.
 */

import type { Socket } from 'node:net';

export class SourceConnectionCap {
  private readonly open = new Map<string, number>();

  /** `limit` 0: no cap. */
  constructor(private readonly limit: number) {}

  /** Counts `socket` against its source until it closes; false (not counted) when the source is at the cap. */
  admit(socket: Socket): boolean {
    if (this.limit === 0) return true;
    const source = normalizeAddress(socket.remoteAddress);
    const count = this.open.get(source) ?? 0;
    if (count >= this.limit) return false;
    this.open.set(source, count + 1);
    socket.once('close', () => this.release(source));
    return true;
  }

  private release(source: string): void {
    const count = (this.open.get(source) ?? 1) - 1;
    if (count <= 0) this.open.delete(source);
    else this.open.set(source, count);
  }
}

/** An IPv4 address reached over IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 address. */
function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
