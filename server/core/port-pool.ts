/**
 * Port mode: which tunnel name holds which public port. A name keeps its reservation after its
 * tunnel goes offline, so a developer gets "their" port back after a restart; offline
 * reservations are reused, longest idle first, only when the range has nothing else left.
 *
 * An interface, so that a shared (Redis-backed) pool can replace the in-memory one when several
 * server replicas share the tunnels.
 */

/** Assigns public ports to tunnel names. */
export interface PortPool {
  /**
   * Picks a port for `name`: `preferred` when no other name holds it, else the name's own
   * reservation, else a port never reserved, else the longest-idle offline reservation.
   * Returns null when every port is held by a live tunnel.
   */
  reserve(name: string, preferred: number | undefined, isLive: (name: string) => boolean): number | null;
  /** Records that `name`'s tunnel went offline now (for "longest idle"). */
  markIdle(name: string, now?: number): void;
  /** Gives up `name`'s reservation, so its port is free for anyone. */
  release(name: string): void;
  /** Takes a port out of use for good (for example because another process has bound it). */
  retire(port: number): void;
  /** The ports taken out of use, ascending. */
  retiredPorts(): number[];
  /** The name holding a port, if any. */
  nameForPort(port: number): string | undefined;
  /** The port a name holds, if any. */
  portForName(name: string): number | undefined;
}

/** One name's port. */
export interface Reservation {
  name: string;
  port: number;
  idleSince: number;
}

/** The single-process PortPool. */
export class InMemoryPortPool implements PortPool {
  private readonly byPort = new Map<number, Reservation>();
  private readonly byName = new Map<string, Reservation>();
  private readonly retired = new Set<number>();

  constructor(private readonly range: { from: number; to: number }) {}

  reserve(name: string, preferred: number | undefined, isLive: (name: string) => boolean): number | null {
    const port = this.pick(name, preferred, isLive);
    if (port === null) return null;
    this.assign(name, port);
    return port;
  }

  markIdle(name: string, now = Date.now()): void {
    const reservation = this.byName.get(name);
    if (reservation) reservation.idleSince = now;
  }

  retire(port: number): void {
    this.retired.add(port);
    const reservation = this.byPort.get(port);
    if (reservation) {
      this.byPort.delete(port);
      this.byName.delete(reservation.name);
    }
  }

  retiredPorts(): number[] {
    return [...this.retired].sort((a, b) => a - b);
  }

  release(name: string): void {
    const reservation = this.byName.get(name);
    if (!reservation) return;
    this.byName.delete(name);
    this.byPort.delete(reservation.port);
  }

  nameForPort(port: number): string | undefined {
    return this.byPort.get(port)?.name;
  }

  /** Every reservation (replica mode shares them through Redis). */
  reservations(): Reservation[] {
    return [...this.byPort.values()].map((reservation) => ({ ...reservation }));
  }

  /** Replaces every reservation with `reservations` (another replica changed them). */
  load(reservations: readonly Reservation[]): void {
    this.byPort.clear();
    this.byName.clear();
    for (const { name, port, idleSince } of reservations) {
      if (this.retired.has(port) || this.byName.has(name) || !this.isUsable(port)) continue;
      const reservation = { name, port, idleSince };
      this.byPort.set(port, reservation);
      this.byName.set(name, reservation);
    }
  }

  portForName(name: string): number | undefined {
    return this.byName.get(name)?.port;
  }

  private pick(name: string, preferred: number | undefined, isLive: (name: string) => boolean): number | null {
    if (preferred !== undefined && this.isUsable(preferred)) {
      // Only a free port or the caller's own: another name's reservation, even an idle one, is
      // that developer's port to come back to (the range-full case below may reuse it, longest idle first).
      const holder = this.byPort.get(preferred)?.name;
      if (holder === undefined || holder === name) return preferred;
    }
    const own = this.byName.get(name);
    if (own) return own.port;
    for (let port = this.range.from; port <= this.range.to; port++) {
      if (!this.retired.has(port) && !this.byPort.has(port)) return port;
    }
    let longestIdle: Reservation | undefined;
    for (const reservation of this.byPort.values()) {
      if (isLive(reservation.name)) continue;
      if (!longestIdle || reservation.idleSince < longestIdle.idleSince) longestIdle = reservation;
    }
    return longestIdle?.port ?? null;
  }

  private isUsable(port: number): boolean {
    return port >= this.range.from && port <= this.range.to && !this.retired.has(port);
  }

  private assign(name: string, port: number): void {
    const previousOfName = this.byName.get(name);
    if (previousOfName) this.byPort.delete(previousOfName.port);
    const previousHolder = this.byPort.get(port);
    if (previousHolder) this.byName.delete(previousHolder.name);
    const reservation = { name, port, idleSince: Date.now() };
    this.byPort.set(port, reservation);
    this.byName.set(name, reservation);
  }
}
