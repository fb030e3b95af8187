/**
 * Request ids (uuid v4). In replica mode the first 8 hex digits are the tag of the replica that
 * parked the request, so a respond POST that lands on any replica can be passed to the one
 * holding the browser's socket without asking Redis (docs/replicas.md "Request ids"). The other
 * 90 random bits keep ids unguessable; the version and variant digits stay those of a uuid v4.
 */

import { newUuid, randomHex } from '#shared/random-ids';

/** Hex digits of a replica tag. */
const TAG_LENGTH = 8;

/** Makes the request and probe ids of one server. */
export class RequestIds {
  /** `replicaTag`: 8 lower-case hex digits in replica mode, null for a single server. */
  constructor(readonly replicaTag: string | null = null) {}

  next(): string {
    const id = newUuid();
    return this.replicaTag === null ? id : this.replicaTag + id.slice(TAG_LENGTH);
  }

  /** Whether `id` was made by this server (always true for a single server). */
  isOwn(id: string): boolean {
    return this.replicaTag === null || id.startsWith(this.replicaTag);
  }
}

/** A fresh replica tag. */
export function newReplicaTag(): string {
  return randomHex(TAG_LENGTH / 2);
}

/** The replica tag in a request id. */
export function replicaTagOf(id: string): string {
  return id.slice(0, TAG_LENGTH).toLowerCase();
}
