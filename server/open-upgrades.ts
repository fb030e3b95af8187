/**
 * The upgraded connections (WebSockets and other Upgrade protocols) of one tunnel, from the
 * browser's handshake until the connection closes: counted against --max-upgrades, and closed
 * together when the tunnel's session ends or the server shuts down.
 */

/** Something that can be closed from outside: one upgraded connection. */
export interface Closable {
  close(reason: string): void;
}

export class OpenUpgrades {
  private readonly open = new Set<Closable>();

  /** Upgraded connections open now, handshakes in progress included. */
  get size(): number {
    return this.open.size;
  }

  add(connection: Closable): void {
    this.open.add(connection);
  }

  delete(connection: Closable): void {
    this.open.delete(connection);
  }

  /** Closes every connection (session over, or server shutting down); each leaves the set as it closes. */
  closeAll(reason: string): void {
    for (const connection of [...this.open]) connection.close(reason);
  }
}
