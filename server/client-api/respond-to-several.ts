/**
 * POST /_standin/v1/tunnels/<name>/responses: the client answers several browser requests at
 * once (the small, complete responses to a batch; shared/protocol/messages.ts). The body's metadata
 * frame lists them with their body sizes; the rest of the body is their bodies back to back, at most
 * MAX_BATCH_REQUESTS × MAX_GROUPED_BODY_BYTES, so it is read whole before anything is sent.
 * Like a single respond POST, it is then held open as the client's next poll.
 */

import { addAppTrailers } from '../http/response-trailers';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADER } from '#shared/protocol/headers';
import { parseResponseGroupMeta } from '#shared/protocol/message-codecs';
import type { GroupedResponse } from '#shared/protocol/messages';
import { readFrame } from '#shared/protocol/wire-frame';
import { replyError } from '../http/json-reply';
import { GroupBodies } from './group-bodies';
import type { ServerContext } from '../server-context';
import type { Arrival } from '../data-path/arrival';
import { continueAfterResponse } from './poll';

export async function handleRespondToSeveral(
  ctx: ServerContext,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
  arrival: Arrival = {},
): Promise<void> {
  const sessionId = req.headers[HEADER.session];
  const frame = await readFrame(req, { timeoutMs: ctx.config.requestTimeoutMs });
  const { responses } = parseResponseGroupMeta(frame);
  // Replica mode: a group answers one poll's batch, so all its requests are held by one replica.
  const continueHere = () => continueAfterResponse(ctx, name, sessionId, req, res);
  if (!arrival.forwarded && (await ctx.replicas?.forwardGroupIfElsewhere(responses, frame, req, res, continueHere))) return;
  if (new Set(responses.map((response) => response.id)).size !== responses.length) {
    replyError(res, 400, 'bad_request', 'a request id appears twice in one group of responses');
    return;
  }
  // Nothing is delivered unless every response comes from the session its request went to.
  for (const response of responses) {
    const request = ctx.handed.get(response.id);
    if (request && (request.tunnelName !== name || request.sessionId !== sessionId)) {
      replyError(res, 403, 'unknown_session', `request ${response.id} was handed to another session or tunnel`);
      return;
    }
  }
  const bodies = new GroupBodies(
    responses.map((response) => response.bodyBytes),
    (index) => ctx.handed.get(responses[index].id) !== undefined,
  );
  req.on('data', (chunk: Buffer) => bodies.take(chunk));
  // The client's connection broke before the whole group arrived: its browsers get an answer now,
  // not at their request timeout.
  req.once('close', () => {
    if (!req.complete)
      failGroup(ctx, responses, 'tunnel_offline', 'The connection to the standin client broke while it sent the response.');
  });
  req.once('end', () => {
    if (bodies.receivedBytes !== bodies.declaredBytes) {
      // Refused whole, like any bad group: its requests stay with the client, which may answer again.
      replyError(
        res,
        400,
        'bad_request',
        `the body after the frame must be the ${responses.length} bodies back to back: ${bodies.declaredBytes} bytes, got ${bodies.receivedBytes}`,
      );
      return;
    }
    deliver(ctx, responses, bodies);
    const tunnel = ctx.registry.get(name);
    if (tunnel && tunnel.session.id === sessionId) tunnel.session.heard();
    continueAfterResponse(ctx, name, sessionId, req, res);
  });
}

/** Fails the browser requests of a group that cannot be delivered. */
function failGroup(ctx: ServerContext, responses: GroupedResponse[], code: 'tunnel_offline', message: string): void {
  for (const response of responses) {
    ctx.handed.get(response.id)?.fail(code, message);
  }
}

/** Sends each response to its waiting browser; a request no longer waiting (timed out, browser gone) is skipped. */
function deliver(ctx: ServerContext, responses: GroupedResponse[], bodies: GroupBodies): void {
  for (const [index, response] of responses.entries()) {
    const request = ctx.handed.get(response.id);
    const body = bodies.body(index);
    if (!request || !body || request.res.destroyed) continue;
    if (request.upgrade) {
      // Handshakes never travel in batches; a 101 here would switch the browser's connection with
      // no byte streams behind it.
      request.fail('app_error', 'The standin client answered an upgrade handshake in a group of responses.');
      continue;
    }
    if (response.kind === 'failure') {
      request.fail(response.code, response.message);
      continue;
    }
    // A head Node refuses (CR/LF, non-Latin-1) fails that one request with 502; the others go on.
    if (!request.sendResponseHead(response)) continue;
    addAppTrailers(request.res, response);
    request.bytesOut += body.length;
    request.writeBody(body);
    request.endBody();
  }
}
