/**
 * A TCP proxy on 127.0.0.1 for fault injection: it forwards bytes both ways until told to
 * freeze, then stops moving bytes without closing anything (a silent network: Wi-Fi gone, a
 * NAT that forgot the flow), and on thaw delivers what it held and carries on.
 */

import net from 'node:net';
import type { AddressInfo } from 'node:net';

interface Link {
  from: net.Socket;
  to: net.Socket;
  held: Buffer[];
}

/** A close that happened while frozen; on thaw the other side learns of it, as from an RST. */
type PendingClose = net.Socket;

export class FreezeProxy {
  private frozen = false;
  private readonly links = new Set<Link>();
  private readonly pendingCloses: PendingClose[] = [];
  private readonly sockets = new Set<net.Socket>();
  /** The sockets accepted from clients (as opposed to those to the target). */
  private readonly accepted = new WeakSet<net.Socket>();
  private readonly server: net.Server;
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = net.createServer((client) => this.accept(client));
  }

  /** Starts listening on a free loopback port. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops moving bytes in both directions; nothing is closed. */
  freeze(): void {
    this.frozen = true;
  }

  /** Delivers what was held and moves bytes again. */
  thaw(): void {
    this.frozen = false;
    for (const link of this.links) {
      for (const chunk of link.held.splice(0)) link.to.write(chunk);
      link.from.resume();
    }
    for (const socket of this.pendingCloses.splice(0)) socket.destroy();
  }

  /** Resets (RST) the client side of the oldest connection that is open; false when none is. */
  resetOne(): boolean {
    for (const link of this.links) {
      if (!this.accepted.has(link.from) || link.from.destroyed) continue;
      link.from.resetAndDestroy();
      return true;
    }
    return false;
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted.add(client);
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => this.sockets.delete(socket));
    }
    this.forward(client, upstream);
    this.forward(upstream, client);
  }

  private forward(from: net.Socket, to: net.Socket): void {
    const link: Link = { from, to, held: [] };
    this.links.add(link);
    from.on('data', (chunk: Buffer) => {
      if (this.frozen) {
        // Hold the bytes and stop reading, so the sender's buffers fill as on a dead path.
        link.held.push(chunk);
        from.pause();
        return;
      }
      to.write(chunk);
    });
    from.once('end', () => {
      if (!this.frozen) to.end();
    });
    from.once('close', () => {
      this.links.delete(link);
      if (this.frozen) this.pendingCloses.push(to);
      else to.destroy();
    });
  }
}
