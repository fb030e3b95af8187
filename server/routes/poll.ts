/** GET /_standin/v1/tunnels/<name>/poll: a client's long-poll for the next browser request. */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADER } from '../../shared/protocol';
import { replyError } from '../control-reply';
import type { ServerContext } from '../server-context';
import { replyEnded } from '../tunnel-session';

export function handlePoll(ctx: ServerContext, name: string, req: IncomingMessage, res: ServerResponse): void {
  continueAsPoll(ctx, name, req.headers[HEADER.session], res);
}

/**
 * Holds `res` as a poll of the session `sessionId` of tunnel `name`, or answers why it cannot be.
 * The respond route calls this too: a respond POST becomes the client's next poll.
 */
export function continueAsPoll(ctx: ServerContext, name: string, sessionId: string | string[] | undefined, res: ServerResponse): void {
  const tunnel = ctx.registry.get(name);
  if (!tunnel) {
    replyError(res, 404, 'not_found', `no tunnel named ${name}; register it first`);
    return;
  }
  if (sessionId !== tunnel.session.id) {
    if (tunnel.stopReason) replyEnded(res, tunnel.stopReason);
    else replyError(res, 409, 'session_replaced', `this is not the current session of tunnel ${name}; another client registered it`);
    return;
  }
  if (tunnel.state === 'pending') tunnel.state = 'active';
  tunnel.session.acceptPoll(res);
}
