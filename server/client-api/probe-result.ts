/**
 * POST /_standin/v1/tunnels/<name>/responses/<probe id>: the client answers a health probe. Like
 * a response to a browser request, the POST is then held open as the client's next poll.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADER } from '#shared/protocol/headers';
import { parseProbeResultMeta } from '#shared/protocol/message-codecs';
import { readFrame } from '#shared/protocol/wire-frame';
import { replyError } from '../http/json-reply';
import type { ServerContext } from '../server-context';
import { continueAfterResponse } from './poll';

export async function handleProbeResult(
  ctx: ServerContext,
  name: string,
  probeId: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const sessionId = req.headers[HEADER.session];
  const result = parseProbeResultMeta(await readFrame(req, { timeoutMs: ctx.config.requestTimeoutMs }));
  if (!ctx.health.settleProbe(name, probeId, sessionId, result)) {
    replyError(res, 404, 'unknown_request', `probe ${probeId} is not waiting for an answer from this session of tunnel ${name}`);
    return;
  }
  // A probe answer has no body; drain anything a broken client sends anyway.
  req.resume();
  req.once('end', () => continueAfterResponse(ctx, name, sessionId, req, res));
}
