/**
 * Who holds which tunnel name. A claim outlives its tunnel: the name stays reserved for its
 * holder for --claim-ttl after last use, so a restart (or a laptop closed overnight) gets the
 * same name and port back, and nobody else can take them meanwhile.
 *
 * An interface, so that a shared (Redis-backed) store can replace the in-memory one when
 * several server replicas serve the same tunnels.
 */

/** One name's claim. */
export interface NameClaim {
  name: string;
  /** The developer who holds it (tokens-file or OIDC user), or null when a claim key holds it. */
  owner: string | null;
  /** SHA-256 (hex) of the claim key given out at first registration; null for an owner's claim. */
  claimKeySha256: string | null;
  /** Last registration or tunnel end, ms since epoch; the claim lapses --claim-ttl after it. */
  lastUsedAt: number;
}

/** Where the server keeps name claims. */
export interface NameClaimStore {
  get(name: string): NameClaim | undefined;
  set(claim: NameClaim): void;
  delete(name: string): void;
  /** Drops claims last used before `cutoff`, except those `isLive` says are in use; returns the names dropped. */
  dropUnusedSince(cutoff: number, isLive: (name: string) => boolean): string[];
  readonly size: number;
}

/** Claims kept at most; past it the least recently used one that is not live makes room. */
export const MAX_NAME_CLAIMS = 20_000;

/** The single-process NameClaimStore. */
export class InMemoryNameClaimStore implements NameClaimStore {
  /** Insertion order is last-use order: set() moves a claim to the end. */
  private readonly byName = new Map<string, NameClaim>();

  constructor(private readonly maxClaims = MAX_NAME_CLAIMS) {}

  get(name: string): NameClaim | undefined {
    return this.byName.get(name);
  }

  set(claim: NameClaim): void {
    this.byName.delete(claim.name);
    if (this.byName.size >= this.maxClaims) this.byName.delete(this.byName.keys().next().value as string);
    this.byName.set(claim.name, { ...claim });
  }

  delete(name: string): void {
    this.byName.delete(name);
  }

  dropUnusedSince(cutoff: number, isLive: (name: string) => boolean): string[] {
    const dropped: string[] = [];
    for (const claim of [...this.byName.values()]) {
      if (claim.lastUsedAt < cutoff && !isLive(claim.name)) {
        this.byName.delete(claim.name);
        dropped.push(claim.name);
      }
    }
    return dropped;
  }

  get size(): number {
    return this.byName.size;
  }
}
