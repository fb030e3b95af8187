/** DELETE /_standin/v1/tunnels/<name>: the client stops (Ctrl-C) and releases its tunnel. */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADER } from '#shared/protocol/headers';
import { replyError, replyNoContent } from '../http/json-reply';
import type { ServerContext } from '../server-context';
import { afterSessionCheck, tunnelOfSession } from './current-session';

export function handleRelease(ctx: ServerContext, name: string, req: IncomingMessage, res: ServerResponse): void {
  const sessionId = req.headers[HEADER.session];
  afterSessionCheck(ctx, name, sessionId, res, () => release(ctx, name, sessionId, res));
}

function release(ctx: ServerContext, name: string, sessionId: string | string[] | undefined, res: ServerResponse): void {
  const tunnel = tunnelOfSession(ctx, name, sessionId);
  if (!tunnel) {
    replyError(res, 404, 'unknown_session', `tunnel ${name} has no session with that id`);
    return;
  }
  // Already stopped (expired, or by an admin): keep that reason, so its port keeps saying why.
  if (tunnel.state === 'stopped') return replyNoContent(res);
  for (const request of tunnel.stop('released')) request.fail('tunnel_offline', `The standin client of tunnel ${name} disconnected.`);
  ctx.portPool?.markIdle(name);
  ctx.replicas?.saveStop(tunnel);
  ctx.logger.info('released tunnel', { tunnel: name });
  replyNoContent(res);
}
