/**
 * The protocol version and its optional parts: what a client and a server of different releases
 * check before they exchange a single frame (docs/wire-protocol.md).
 *
 * The client sends PROTOCOL_VERSION in the registration body and in `x-standin-protocol` on
 * every call; the server refuses another version with 400 naming both versions, so a client and
 * server of different releases fail at once with a clear message instead of misreading frames.
 *
 * Optional parts (ProtocolFeature), used by a client only with a server whose registration
 * answer lists them, so releases within protocol 2 keep working together:
 * - `interim-responses`: a respond POST may start with InterimResponseMeta frames (the app's 1xx,
 *   103 Early Hints), each written to the browser as it arrives, before the response's frame;
 * - `streamed-trailers`: a response frame with `trailersFollow` is followed by the app's body in
 *   chunks and a closing trailers frame (shared/protocol/body-chunks.ts), so a streamed response
 *   keeps its trailers.
 */

import { ProtocolError } from '../errors';

/**
 * Version of this internal protocol. 2: metadata framed in the body (1 carried it in a header).
 * The paths keep their /_standin/v1/ prefix, which is part of the user-facing contract; the
 * version travels in the registration body and the `x-standin-protocol` header instead.
 */
export const PROTOCOL_VERSION = 2;

/**
 * Optional parts of protocol 2 (see the top of this file). A server lists those it understands in
 * its registration answer; a client uses only those, so either side may be the older release.
 */
export const PROTOCOL_FEATURES = ['interim-responses', 'streamed-trailers'] as const;

/** One optional part of protocol 2. */
export type ProtocolFeature = (typeof PROTOCOL_FEATURES)[number];

/** Whether a registration answer lists `feature` (older servers list none). */
export function serverHasFeature(registration: { features?: unknown } | undefined, feature: ProtocolFeature): boolean {
  return Array.isArray(registration?.features) && registration.features.includes(feature);
}

/**
 * Checks the protocol version a client registers with, or throws ProtocolError naming both
 * versions and which side to upgrade (an old client sends none).
 */
export function expectProtocolVersion(value: unknown, clientVersion?: unknown): number {
  const release = typeof clientVersion === 'string' ? ` (standin ${clientVersion.slice(0, 40)})` : '';
  if (value === PROTOCOL_VERSION) return PROTOCOL_VERSION;
  if (value === undefined || value === null) {
    throw new ProtocolError(
      `this standin server speaks protocol ${PROTOCOL_VERSION} and your client${release} speaks protocol 1: upgrade the client (npm install -g standin@latest, or npx standin@latest)`,
    );
  }
  const older = typeof value === 'number' && value < PROTOCOL_VERSION;
  throw new ProtocolError(
    `this standin server speaks protocol ${PROTOCOL_VERSION} and your client${release} speaks protocol ${JSON.stringify(value).slice(0, 20)}: ${older ? 'upgrade the client (npm install -g standin@latest)' : "ask the server's operators to upgrade the standin server, or use a client of the server's release"}`,
  );
}
