/** GET /_standin/v1/tunnels/<name>/poll: a client's long-poll for the next browser request. */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADER } from '#shared/protocol/headers';
import { MAX_POLLS_PER_SESSION } from '#shared/protocol/limits';
import { replyError, replyNoContent } from '../http/json-reply';
import type { ServerContext } from '../server-context';
import { replyEnded, replyPollElsewhere } from '../core/tunnel-session';
import { afterSessionCheck } from './current-session';

/** How long a draining replica holds a new poll before sending it elsewhere. */
const DRAINING_POLL_DELAY_MS = 200;

export function handlePoll(ctx: ServerContext, name: string, req: IncomingMessage, res: ServerResponse): void {
  continueAsPoll(ctx, name, req.headers[HEADER.session], res);
}

/**
 * Holds `res` as a poll of the session `sessionId` of tunnel `name`, or answers why it cannot be.
 * The respond route calls this too: a respond POST becomes the client's next poll.
 */
export function continueAsPoll(ctx: ServerContext, name: string, sessionId: string | string[] | undefined, res: ServerResponse): void {
  afterSessionCheck(ctx, name, sessionId, res, () => holdPoll(ctx, name, sessionId, res));
}

function holdPoll(ctx: ServerContext, name: string, sessionId: string | string[] | undefined, res: ServerResponse): void {
  const tunnel = ctx.registry.get(name);
  if (!tunnel) {
    const endedFor = ctx.endedSessions.reasonOf(sessionId);
    if (endedFor) replyEnded(res, endedFor);
    else replyError(res, 404, 'not_found', `no tunnel named ${name}; register it first`);
    return;
  }
  if (sessionId !== tunnel.session.id) {
    if (tunnel.stopReason) replyEnded(res, tunnel.stopReason);
    else replyError(res, 409, 'session_replaced', `this is not the current session of tunnel ${name}; another client registered it`);
    return;
  }
  if (tunnel.session.idlePollCount >= MAX_POLLS_PER_SESSION) {
    replyError(res, 429, 'too_many_polls', `session already holds ${MAX_POLLS_PER_SESSION} polls; keep fewer open (--concurrency)`);
    return;
  }
  // A draining replica hands out what still waits here, then sends the client's polls elsewhere;
  // a moment later, so a client whose next connection lands here again does not spin.
  if (ctx.drain.draining && ctx.replicas && tunnel.session.queuedCount === 0)
    return void setTimeout(() => replyPollElsewhere(res), DRAINING_POLL_DELAY_MS).unref();
  const firstPoll = tunnel.markPolled();
  if (firstPoll) ctx.replicas?.savePolled(tunnel);
  tunnel.session.acceptPoll(res);
  // A new tunnel's health is known at once, not a --health-interval later (it goes down this very poll).
  if (firstPoll && tunnel.checkAtStart) void ctx.health.check(tunnel);
}

/**
 * After a respond POST's body: held as the client's next poll, or answered 204 when the client
 * said it has enough polls open (`x-standin-not-a-poll`).
 */
export function continueAfterResponse(
  ctx: ServerContext,
  name: string,
  sessionId: string | string[] | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  if (req.headers[HEADER.notAPoll] !== undefined) replyNoContent(res);
  else continueAsPoll(ctx, name, sessionId, res);
}
