/**
 * One request of the local app through the cluster proxy: find its destination, send it to the
 * server framed (shared/protocol/outbound.ts), relay the service's answer, and record it like
 * any request (terminal line, --log-file, inspector), marked outbound.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { StandinError } from '#shared/errors';
import { withoutHopByHop } from '#shared/http-headers';
import { encodeFrame, readFrame } from '#shared/protocol/wire-frame';
import {
  OUTBOUND_ERROR_STATUS,
  parseOutboundResponseMeta,
  type OutboundErrorBody,
  type OutboundErrorCode,
  type OutboundRequestMeta,
  type OutboundResponseMeta,
} from '#shared/protocol/outbound';
import { HEADER } from '#shared/protocol/headers';
import type { RequestMeta } from '#shared/protocol/messages';
import { newUuid } from '#shared/random-ids';
import { RequestCapture, type RequestObserver } from '../inspector/request-capture';
import { tunnelDestination } from './connect-tunnel';

/** Largest error body of the server the client reads; a proxy on the way may send a big page. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

/** Sends one outbound call to the server: the meta frame and the app's body in, the server's answer out. */
export type OutboundCall = (body: Readable, options: { contentLength?: number; signal: AbortSignal }) => Promise<Dispatcher.ResponseData>;

/** What proxyOutboundRequest needs. */
export interface ProxiedRequestOptions {
  tunnel: string;
  call: OutboundCall;
  report: RequestObserver;
  previewCapBytes: number;
  /** `127.0.0.1:<port>` of the proxy itself: a request whose Host is the proxy names no service. */
  ownAuthority: string;
}

/** A request the proxy cannot send, with the code and message the app gets. */
class OutboundRefusal extends StandinError {
  constructor(
    readonly outboundCode: OutboundErrorCode,
    message: string,
  ) {
    super(outboundCode, message);
  }
}

/** Proxies one request of the app; never rejects for what the app, server or service did. */
export async function proxyOutboundRequest(req: IncomingMessage, res: ServerResponse, options: ProxiedRequestOptions): Promise<void> {
  const id = newUuid();
  const method = req.method ?? 'GET';
  let url: string;
  try {
    url = requestTarget(req, options.ownAuthority);
  } catch (error) {
    req.resume();
    const capture = new RequestCapture(requestMeta(id, method, req.url ?? '', req, false), options.tunnel, {
      previewCapBytes: 0,
      outbound: true,
    });
    return answerWithError(req, res, capture, options.report, (error as OutboundRefusal).outboundCode, (error as Error).message);
  }
  const hasBody = requestHasBody(req);
  const capture = new RequestCapture(requestMeta(id, method, url, req, hasBody), options.tunnel, {
    previewCapBytes: options.previewCapBytes,
    outbound: true,
  });
  const head = encodeFrame(
    JSON.stringify({ kind: 'outbound-request', id, method, url, headers: req.rawHeaders } satisfies OutboundRequestMeta),
  );
  const appBody = hasBody ? capture.tapRequestBody(req) : null;
  if (!hasBody) req.resume();
  const abort = new AbortController();
  // The app hung up: stop the call on the server (which stops it at the service) too.
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });

  let answer;
  try {
    answer = await options.call(Readable.from(framedBody(head, appBody), { objectMode: false }), {
      contentLength: framedLength(head, req, hasBody),
      signal: abort.signal,
    });
  } catch (error) {
    stopUpload(req, res, appBody);
    // 499, as nginx logs a client that left: nobody is waiting for an answer any more.
    if (abort.signal.aborted)
      return void options.report(capture.failed('outbound_unreachable', 'the app closed the connection before the answer came', 499));
    const failure = describeCallFailure(error);
    return answerWithError(req, res, capture, options.report, failure.code, failure.message);
  }
  if (answer.statusCode !== 200) {
    stopUpload(req, res, appBody);
    const refusal = await describeRefusal(answer.statusCode, answer.body);
    return answerWithError(req, res, capture, options.report, refusal.code, refusal.message);
  }
  let meta: OutboundResponseMeta;
  try {
    meta = parseOutboundResponseMeta(await readFrame(answer.body));
  } catch (error) {
    answer.body.destroy();
    return answerWithError(
      req,
      res,
      capture,
      options.report,
      'outbound_unreachable',
      `the standin server sent a broken answer: ${(error as Error).message}`,
    );
  }
  relayAnswer(res, answer.body, meta, id, capture, options.report);
}

/** Answers the app with standin's own error and records the call with it. */
function answerWithError(
  req: IncomingMessage,
  res: ServerResponse,
  capture: RequestCapture,
  report: RequestObserver,
  code: OutboundErrorCode,
  message: string,
): void {
  const record = capture.failed(code, message, OUTBOUND_ERROR_STATUS[code]);
  replyOutboundError(req, res, code, message, record.requestId);
  report(record);
}

/**
 * The call was refused before the app's body was all sent: close the app's connection after the
 * answer, which ends the upload too, so a refused 1 GiB upload is not read to its end for nothing.
 */
function stopUpload(req: IncomingMessage, res: ServerResponse, appBody: Readable | null): void {
  if (appBody && !req.complete) res.shouldKeepAlive = false;
}

/** Streams the service's answer to the app with backpressure; a cut answer cuts the app's response. */
function relayAnswer(
  res: ServerResponse,
  body: Readable,
  meta: OutboundResponseMeta,
  id: string,
  capture: RequestCapture,
  report: RequestObserver,
): void {
  const headers = withoutHopByHop(meta.headers);
  headers.push('X-Standin-Request-Id', id);
  capture.responded(meta.status, meta.headers);
  capture.watchResponseBody(body, report);
  if (res.destroyed) {
    body.destroy();
    return;
  }
  res.writeHead(meta.status, headers);
  body.on('data', (chunk: Buffer) => capture.responseChunk(chunk));
  pipeline(body, res, () => {});
}

/** Answers the app with standin's own error: the status of `code`, X-Standin-Error and a JSON body. */
export function replyOutboundError(
  req: IncomingMessage,
  res: ServerResponse,
  code: OutboundErrorCode,
  message: string,
  requestId?: string,
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: code, message, ...(requestId ? { requestId } : {}) });
  res.writeHead(OUTBOUND_ERROR_STATUS[code], {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    [HEADER.error]: code,
    ...(requestId ? { [HEADER.requestId]: requestId } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The absolute http:// URL the app asked for: the CONNECT target for a request inside a tunnel,
 * the request target in absolute form (as curl and node:http clients using HTTP_PROXY send it),
 * or origin form with the service in the Host header.
 */
function requestTarget(req: IncomingMessage, ownAuthority: string): string {
  const target = req.url ?? '';
  const tunnelled = tunnelDestination(req.socket);
  if (tunnelled !== undefined) {
    if (!target.startsWith('/'))
      throw new OutboundRefusal('outbound_bad_request', 'a request inside a CONNECT tunnel must be in origin form (/path)');
    return new URL(`http://${tunnelled}${target}`).href;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      throw new OutboundRefusal('outbound_bad_request', `"${target.slice(0, 200)}" is not a valid URL`);
    }
    if (url.protocol !== 'http:')
      throw new OutboundRefusal(
        'outbound_unsupported',
        `${url.protocol}// is not carried: the hop inside the cluster is plain HTTP, so call http://${url.host}${url.pathname}`,
      );
    return url.href;
  }
  const host = req.headers.host;
  if (!target.startsWith('/') || !host)
    throw new OutboundRefusal(
      'outbound_bad_request',
      'send an absolute http:// URL (set HTTP_PROXY to this proxy), or a path with the service in the Host header',
    );
  if (host === ownAuthority || host === ownAuthority.replace('127.0.0.1', 'localhost')) {
    throw new OutboundRefusal(
      'outbound_bad_request',
      `this request names the cluster proxy itself (${host}), not a service: set HTTP_PROXY=http://${ownAuthority} and call http://<service>/…, or send the service's name in the Host header`,
    );
  }
  try {
    return new URL(`http://${host}${target}`).href;
  } catch {
    throw new OutboundRefusal('outbound_bad_request', `Host "${host.slice(0, 200)}" is not a host name`);
  }
}

function requestMeta(id: string, method: string, url: string, req: IncomingMessage, hasBody: boolean): RequestMeta {
  return { kind: 'request', id, method, url, headers: req.rawHeaders, hasBody };
}

function requestHasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** The POST's Content-Length when the app's body has one (a proxy on the way then sees a plain body). */
function framedLength(head: Buffer, req: IncomingMessage, hasBody: boolean): number | undefined {
  if (!hasBody) return head.length;
  const length = req.headers['content-length'];
  return length !== undefined && /^\d+$/.test(length) ? head.length + Number(length) : undefined;
}

/** The POST body: the meta frame, then the app's body as it arrives (undici awaits each write). */
async function* framedBody(head: Buffer, body: Readable | null): AsyncGenerator<Buffer> {
  yield head;
  if (body) for await (const chunk of body) yield chunk as Buffer;
}

/** Why the call to the server failed, for the app. */
function describeCallFailure(error: unknown): { code: OutboundErrorCode; message: string } {
  if (error instanceof StandinError && error.code === 'outbound_offline') return { code: 'outbound_offline', message: error.message };
  const code = (error as { code?: string }).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT')
    return { code: 'outbound_timeout', message: 'the standin server did not answer the call in time' };
  return { code: 'outbound_offline', message: `the standin client could not reach its server: ${(error as Error).message}` };
}

/** The server refused the call: its code when it is an outbound one, else why in the app's terms. */
async function describeRefusal(status: number, body: Readable): Promise<{ code: OutboundErrorCode; message: string }> {
  const text = await readSmallText(body, MAX_ERROR_BODY_BYTES);
  let parsed: Partial<OutboundErrorBody> = {};
  try {
    parsed = JSON.parse(text) as Partial<OutboundErrorBody>;
  } catch {
    // Not one of ours (a proxy in between answered): keep the status.
  }
  const message = typeof parsed.message === 'string' ? parsed.message : `the standin server answered HTTP ${status}`;
  if (typeof parsed.error === 'string' && parsed.error in OUTBOUND_ERROR_STATUS)
    return { code: parsed.error as OutboundErrorCode, message };
  // The session is gone (reconnecting) or the token was refused: the tunnel is not usable right now.
  if (status === 401 || status === 404 || status === 409)
    return { code: 'outbound_offline', message: `the standin server refused the call: ${message}` };
  return { code: 'outbound_unreachable', message: `the standin server could not make the call: ${message}` };
}

/** Reads at most `maxBytes` of a body as text and drops the rest. */
async function readSmallText(body: Readable, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= maxBytes) break;
    }
  } catch {
    // A broken error body still tells us the status.
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}
