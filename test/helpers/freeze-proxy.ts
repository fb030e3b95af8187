/**
 * A TCP proxy on 127.0.0.1 for fault injection: it forwards bytes both ways until told to
 * freeze, then stops moving bytes without closing anything (a silent network: Wi-Fi gone, a
 * NAT that forgot the flow), and on thaw delivers what it held and carries on. It can also
 * freeze only the connections whose client sent some bytes (a Redis subscription, say).
 */

import net from 'node:net';
import type { AddressInfo } from 'node:net';

interface Link {
  from: net.Socket;
  to: net.Socket;
  held: Buffer[];
  /** The accepted client socket of the connection this direction belongs to. */
  connection: net.Socket;
}

/** How much of what a client sent is kept to match `freezeConnectionsThatSent` against. */
const KEPT_CLIENT_BYTES = 4_096;

/** A close that happened while frozen; on thaw the other side learns of it, as from an RST. */
type PendingClose = net.Socket;

export class FreezeProxy {
  private frozen = false;
  /** Connections frozen on their own (by their accepted client socket). */
  private readonly frozenConnections = new Set<net.Socket>();
  /** The first bytes each client sent, as latin1 text. */
  private readonly clientSent = new WeakMap<net.Socket, string>();
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

  /** Freezes, both ways, only the connections whose client has sent bytes matching `pattern`. */
  freezeConnectionsThatSent(pattern: RegExp): void {
    for (const socket of this.sockets)
      if (this.accepted.has(socket) && pattern.test(this.clientSent.get(socket) ?? '')) this.frozenConnections.add(socket);
  }

  /** Delivers what was held and moves bytes again. */
  thaw(): void {
    this.frozen = false;
    this.frozenConnections.clear();
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
    client.on('data', (chunk: Buffer) => {
      const sent = this.clientSent.get(client) ?? '';
      if (sent.length < KEPT_CLIENT_BYTES) this.clientSent.set(client, sent + chunk.toString('latin1', 0, KEPT_CLIENT_BYTES - sent.length));
    });
    this.forward(client, upstream, client);
    this.forward(upstream, client, client);
  }

  private isFrozen(link: Link): boolean {
    return this.frozen || this.frozenConnections.has(link.connection);
  }

  private forward(from: net.Socket, to: net.Socket, connection: net.Socket): void {
    const link: Link = { from, to, held: [], connection };
    this.links.add(link);
    from.on('data', (chunk: Buffer) => {
      if (this.isFrozen(link)) {
        // Hold the bytes and stop reading, so the sender's buffers fill as on a dead path.
        link.held.push(chunk);
        from.pause();
        return;
      }
      to.write(chunk);
    });
    from.once('end', () => {
      if (!this.isFrozen(link)) to.end();
    });
    from.once('close', () => {
      this.links.delete(link);
      if (this.isFrozen(link)) this.pendingCloses.push(to);
      else to.destroy();
    });
  }
}
