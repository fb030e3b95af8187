/**
 * POST /_standin/v1/tunnels/<name>/responses/<id>: the client answers one browser request.
 * The body's metadata frame holds the app's status and headers (or why there is no response);
 * the rest of the body is the app's body, streamed to the browser. When the body is done the POST is held open as the
 * client's next poll, so a busy tunnel costs one round trip per request.
 */

import { addAppTrailers, addStreamedTrailers } from '../http/response-trailers';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyChunkReader } from '#shared/protocol/body-chunks';
import { ProtocolError } from '#shared/errors';
import { HEADER } from '#shared/protocol/headers';
import { MAX_HEAD_BYTES, MAX_INTERIM_RESPONSES } from '#shared/protocol/limits';
import { parseRespondFrame } from '#shared/protocol/message-codecs';
import type { ResponseMeta } from '#shared/protocol/messages';
import { readFrame } from '#shared/protocol/wire-frame';
import { writeInterimResponse } from '../http/interim-response';
import type { BrowserRequest } from '../core/browser-request';
import { replyError } from '../http/json-reply';
import type { ServerContext } from '../server-context';
import { continueAfterResponse } from './poll';
import { handleProbeResult } from './probe-result';

export async function handleRespond(
  ctx: ServerContext,
  name: string,
  requestId: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const sessionId = req.headers[HEADER.session];
  const request = ctx.handed.get(requestId);
  if (!request && ctx.health.isPendingProbe(requestId)) return handleProbeResult(ctx, name, requestId, req, res);
  if (!request || request.tunnelName !== name) {
    replyError(
      res,
      404,
      'unknown_request',
      `request ${requestId} is not waiting for an answer on tunnel ${name} (already answered or timed out)`,
    );
    return;
  }
  if (request.sessionId !== sessionId) {
    replyError(res, 403, 'unknown_session', `request ${requestId} was handed to another session of tunnel ${name}`);
    return;
  }
  const tunnel = ctx.registry.get(name);
  if (tunnel && tunnel.session.id === sessionId) tunnel.session.heard();
  if (request.res.destroyed) {
    // The browser left while the app worked; cutting this POST tells the client to stop too.
    req.destroy();
    return;
  }
  let meta: ResponseMeta | undefined;
  try {
    meta = await readResponseFrame(ctx, request, req);
  } catch (error) {
    if (req.destroyed && !req.complete)
      request.fail('tunnel_offline', 'The connection to the standin client broke while it sent the response.');
    else request.fail('app_error', 'The standin client sent a response standin could not read.');
    throw error as ProtocolError;
  }
  if (!meta || request.isAnswered || request.res.destroyed) {
    // The request timed out or the browser left while the frame was on its way.
    req.destroy();
    return;
  }
  // An upgrade the app accepted (101) becomes two byte streams; anything else is answered below.
  if (request.upgrade?.takeResponse(meta, req, res)) return;
  if (meta.kind === 'failure') {
    request.fail(meta.code, meta.message);
    req.resume();
    req.once('end', () => continueAfterResponse(ctx, name, sessionId, req, res));
    return;
  }
  if (!request.sendResponseHead(meta)) {
    // The head was refused (the browser got 502 app_error); the body has nowhere to go.
    req.resume();
    req.once('end', () => continueAfterResponse(ctx, name, sessionId, req, res));
    return;
  }
  addAppTrailers(request.res, meta);
  // A streamed response with trailers to come has its body in chunks, then the trailers.
  const chunks = meta.trailersFollow ? new BodyChunkReader() : undefined;
  streamBody(request, req, chunks, () => continueAfterResponse(ctx, name, sessionId, req, res));
}

/**
 * Reads the frames of a respond POST up to the response's own. Interim responses before it (the
 * app's 1xx) go to the browser as they arrive: the first MAX_INTERIM_RESPONSES of them, and
 * MAX_HEAD_BYTES of them in all, since they are written without backpressure. Undefined
 * when the request was answered meanwhile (timed out) or its browser left. Each frame has the
 * request timeout as its bound, and so has the request itself.
 */
async function readResponseFrame(ctx: ServerContext, request: BrowserRequest, post: IncomingMessage): Promise<ResponseMeta | undefined> {
  let interims = 0;
  let bytesLeft = MAX_HEAD_BYTES;
  for (;;) {
    const frame = parseRespondFrame(await readFrame(post, { timeoutMs: ctx.config.requestTimeoutMs }));
    if (frame.kind !== 'interim') return frame;
    if (request.isAnswered || request.res.destroyed) return undefined;
    if (++interims <= MAX_INTERIM_RESPONSES) bytesLeft -= writeInterimResponse(request.req, request.res, frame, bytesLeft);
  }
}

/**
 * Streams the POST body to the browser with backpressure; `onDone` runs when the whole body has
 * been taken. By hand rather than with pipe(), which adds and removes about ten listeners per
 * request on this path; the POST pauses whenever the browser's socket is full and resumes on drain.
 */
function streamBody(request: BrowserRequest, post: IncomingMessage, chunks: BodyChunkReader | undefined, onDone: () => void): void {
  const browserRes = request.res;
  const resume = () => post.resume();
  const write = (piece: Buffer) => {
    request.bytesOut += piece.length;
    return request.writeBody(piece);
  };
  post.on('data', (chunk: Buffer) => {
    let full = false;
    if (!chunks) full = !write(chunk);
    else {
      let pieces: Buffer[];
      try {
        pieces = chunks.take(chunk);
      } catch (error) {
        request.logger.warn('unreadable chunked response body', {
          requestId: request.id,
          tunnel: request.tunnelName,
          reason: (error as Error).message,
        });
        browserRes.destroy();
        post.destroy();
        return;
      }
      for (const piece of pieces) if (!write(piece)) full = true;
    }
    if (full) {
      post.pause();
      browserRes.once('drain', resume);
    }
  });
  post.once('end', () => {
    // A chunked body that stops before its trailers frame was cut short: so is the browser's.
    if (chunks && !chunks.complete) browserRes.destroy();
    else if (chunks) addStreamedTrailers(browserRes, chunks.trailersJson);
    request.endBody();
    onDone();
  });
  // The client's connection broke mid-body: the browser cannot get the rest.
  post.once('close', () => {
    if (!post.complete) browserRes.destroy();
  });
  // The browser went away mid-body: cut the POST so the client stops reading from the app.
  browserRes.once('close', () => {
    if (!browserRes.writableFinished && !post.complete) post.destroy();
  });
}
