/** The connections to the developer's app: one pool for the tunnel, one for the inspector's replays. */

import { Pool } from 'undici';
import { MAX_HEAD_BYTES } from '#shared/protocol/limits';
import { BOTH_LOOPBACKS } from './loopback-lookup';
import { guardedConnector } from './paused-parser-guard';

/**
 * A pool of at most `connections` connections to the app at `target`. One head-size limit
 * everywhere: a bigger app response head fails that request (502 app_error).
 */
export function createAppPool(target: URL, connections: number): Pool {
  return new Pool(target.origin, {
    connections,
    maxHeaderSize: MAX_HEAD_BYTES,
    // Local dev servers on https use self-signed certificates; the target is the developer's own machine.
    connect: guardedConnector({ rejectUnauthorized: false, ...BOTH_LOOPBACKS }),
  });
}
