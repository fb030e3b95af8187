/**
 * Tunnel name -> Tunnel. An interface, so that a shared (Redis-backed) registry can replace the
 * in-memory one when several server replicas serve the same tunnels.
 */

import type { Tunnel } from './tunnel';

/** Where the server keeps its tunnels. */
export interface TunnelRegistry {
  get(name: string): Tunnel | undefined;
  add(tunnel: Tunnel): void;
  list(): Tunnel[];
  /** Forgets a tunnel (its name was released, or it stopped long ago). */
  remove(name: string): void;
}

/** The single-process TunnelRegistry. */
export class InMemoryTunnelRegistry implements TunnelRegistry {
  private readonly byName = new Map<string, Tunnel>();

  get(name: string): Tunnel | undefined {
    return this.byName.get(name);
  }

  add(tunnel: Tunnel): void {
    this.byName.set(tunnel.name, tunnel);
  }

  list(): Tunnel[] {
    return [...this.byName.values()];
  }

  remove(name: string): void {
    this.byName.delete(name);
  }
}
