/**
 * May this caller register this name? The rules of "who may do what" for names, in one pure
 * function over the claim store, so they are read (and tested) in one place:
 *
 * - a tokens-file or OIDC user may register only names their globs allow;
 * - a name whose claim is live (its tunnel runs) or reserved (used within --claim-ttl) belongs
 *   to its holder: the same user, or whoever presents its claim key; an admin may take it over;
 *   anyone else gets 409 name_in_use, and the holder is not disturbed;
 * - a free name gets a new claim: a user's is theirs by identity; with a shared token (or an
 *   open server) the first registration gets a random claim key, given out once.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isPersonal, type Caller } from './caller';
import type { NameClaim, NameClaimStore } from './name-claims';

/** The verdict on one registration. */
export type ClaimDecision =
  | {
      allowed: true;
      /** The claim to store once the registration succeeds. */
      claim: NameClaim;
      /** A new claim key to give the client (only when a new key claim was made). */
      claimKey?: string;
      /** The caller already held the name (a reconnect or restart): resume quietly. */
      resumed: boolean;
      /** An admin took the name from another holder. */
      takenOver: boolean;
    }
  | { allowed: false; code: 'name_in_use' | 'name_not_allowed'; message: string };

/** What the decision needs to know about the name's current tunnel. */
export interface NameActivity {
  /** Its tunnel is registered and not stopped. */
  live: boolean;
  /** When its tunnel's client last polled, if there is one (counts as a use of the claim). */
  lastPollAt?: number;
}

/** Decides whether `caller` may register `name`, presenting `claimKey` (if the client has one). */
export function decideNameClaim(
  store: NameClaimStore,
  caller: Caller,
  name: string,
  claimKey: string | undefined,
  activity: NameActivity,
  claimTtlMs: number,
  now = Date.now(),
): ClaimDecision {
  if (!caller.mayRegister(name)) {
    return {
      allowed: false,
      code: 'name_not_allowed',
      message: `user ${caller.user ?? ''} may not register the name ${name}: pick a name your tokens allow (by default <user> and <user>-*)`,
    };
  }
  const existing = store.get(name);
  const lastUsedAt = Math.max(existing?.lastUsedAt ?? 0, activity.lastPollAt ?? 0);
  const held = existing !== undefined && (activity.live || lastUsedAt + claimTtlMs > now);
  if (held && holds(existing, caller, claimKey)) {
    return { allowed: true, claim: { ...existing, lastUsedAt: now }, resumed: true, takenOver: false };
  }
  if (held && !caller.admin) {
    return {
      allowed: false,
      code: 'name_in_use',
      message: `the name ${name} is in use by another developer: pick another --name or ask an admin to release it`,
    };
  }
  return { ...newClaim(caller, name, now), resumed: false, takenOver: held };
}

/** A claim key as the store keeps it: only its SHA-256, so the store never holds a usable key. */
export function claimKeyDigest(claimKey: string): string {
  return createHash('sha256').update(claimKey).digest('hex');
}

/** Whether `caller` (with `claimKey`) is the holder of `claim`. */
function holds(claim: NameClaim, caller: Caller, claimKey: string | undefined): boolean {
  if (claim.owner !== null) return claim.owner === caller.user;
  if (claim.claimKeySha256 === null || claimKey === undefined) return false;
  const presented = Buffer.from(claimKeyDigest(claimKey), 'hex');
  return timingSafeEqual(presented, Buffer.from(claim.claimKeySha256, 'hex'));
}

function newClaim(caller: Caller, name: string, now: number): { allowed: true; claim: NameClaim; claimKey?: string } {
  if (isPersonal(caller)) return { allowed: true, claim: { name, owner: caller.user, claimKeySha256: null, lastUsedAt: now } };
  const claimKey = randomBytes(24).toString('base64url');
  return { allowed: true, claim: { name, owner: null, claimKeySha256: claimKeyDigest(claimKey), lastUsedAt: now }, claimKey };
}
