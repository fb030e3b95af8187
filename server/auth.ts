/** Bearer-token checks for the client API and admin actions. */

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Checks `Authorization: Bearer <token>` in constant time; with no token configured, everyone passes. */
export function createBearerCheck(token: string | null): (req: IncomingMessage) => boolean {
  if (token === null) return () => true;
  // Comparing digests keeps the comparison constant-time whatever the lengths.
  const expected = digest(`Bearer ${token}`);
  return (req) => {
    const header = req.headers.authorization;
    return typeof header === 'string' && timingSafeEqual(digest(header), expected);
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
