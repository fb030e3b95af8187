/**
 * The upgraded connections (WebSockets and other Upgrade protocols) of one tunnel, from the
 * browser's handshake until the connection closes: counted against --max-upgrades, and closed
 * together when the tunnel's session ends or the server shuts down.
 */

/** Something that can be closed from outside: one upgraded connection. */
export interface Closable {
  close(reason: string): void;
  /** The source address of a handshake the app has not answered yet; undefined once answered. */
  readonly pendingSource?: string;
}

/**
 * Handshakes one source address may have waiting for the app per tunnel; more are refused
 * (upgrade_limit), so an outsider cannot fill --max-upgrades with handshakes that hang.
 */
export const MAX_PENDING_HANDSHAKES_PER_SOURCE = 16;

export class OpenUpgrades {
  private readonly open = new Set<Closable>();

  /** Upgraded connections open now, handshakes in progress included. */
  get size(): number {
    return this.open.size;
  }

  /** Handshakes from `source` still waiting for the app's answer. */
  pendingFrom(source: string): number {
    let count = 0;
    for (const connection of this.open) if (connection.pendingSource === source) count++;
    return count;
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
