/**
 * Random ids from pooled entropy. A request costs one request id and one traceparent span id
 * (two for a new trace); asking the kernel's generator for each would be a few syscalls per
 * request, so random bytes are drawn from a buffer refilled in large blocks, as
 * `crypto.randomUUID()` does for uuids. Same generator, same randomness, fewer calls.
 */

import { randomFillSync, randomUUID } from 'node:crypto';

/** Random bytes drawn per refill: 256 span ids, or 128 new traces. */
const POOL_BYTES = 4096;

const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** A fresh uuid v4, lower case (Node's own generator, which keeps its own entropy cache). */
export function newUuid(): string {
  return randomUUID();
}

/** `bytes` random bytes (at most POOL_BYTES) as lower-case hex. */
export function randomHex(bytes: number): string {
  if (poolOffset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}
