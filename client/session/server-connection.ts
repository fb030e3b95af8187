/**
 * The client's side of the wire protocol (shared/protocol/): register, poll, respond and
 * release over one undici pool of keep-alive connections to the server.
 */

import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { PassThrough, type Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { CompareRequest, CompareResponse } from '#shared/protocol/compare';
import { AuthRefusedError, BadPollAnswerError, ProtocolMismatchError, SessionEndedError, StandinError } from '#shared/errors';
import { encodeFrame, frameLength, readFrame } from '#shared/protocol/wire-frame';
import { checkRegisterAnswer } from './register-answer';
import { guardedConnector } from '../forwarding/paused-parser-guard';
import type { ErrorBody } from '#shared/protocol/error-codes';
import { HEADER } from '#shared/protocol/headers';
import { MAX_HEAD_BYTES, POLL_GRACE_MS } from '#shared/protocol/limits';
import { encodeMeta, parsePollMeta } from '#shared/protocol/message-codecs';
import type {
  PollMeta,
  GroupedResponse,
  ProbeMeta,
  ProbeResultMeta,
  RegisterRequest,
  RegisterResponse,
  RequestMeta,
  ResponseMeta,
} from '#shared/protocol/messages';
import { PATHS } from '#shared/protocol/paths';
import { isSessionEndedCode, parseSessionEndReason } from '#shared/protocol/session-end';
import { PROTOCOL_VERSION } from '#shared/protocol/version';

/** What a poll (or respond POST) brought back. */
export type PollAnswer =
  | { kind: 'request'; meta: RequestMeta; body: Readable }
  | { kind: 'batch'; requests: RequestMeta[] }
  | { kind: 'probe'; meta: ProbeMeta }
  | { kind: 'idle' };

/** How long a connect to the server may take before it counts as failed. */
const CONNECT_TIMEOUT_MS = 10_000;

/** How long a registration may wait for the server's answer (a frozen network must not stall reconnecting). */
const REGISTER_TIMEOUT_MS = 10_000;

export class ServerConnection {
  private readonly pool: Pool;
  private readonly authorization: Record<string, string>;
  private pollTimeoutMs = 25_000;

  constructor(
    readonly serverUrl: URL,
    token: string | null,
    connections: number,
  ) {
    this.pool = new Pool(serverUrl.origin, {
      connections,
      pipelining: 1,
      maxHeaderSize: MAX_HEAD_BYTES,
      // Keepalive probes notice a server that vanished without a FIN or RST. The guard keeps a
      // poll answer cut short under backpressure from wedging a connection (paused-parser-guard.ts).
      connect: guardedConnector({ timeout: CONNECT_TIMEOUT_MS, keepAlive: true, keepAliveInitialDelay: 15_000 }),
    });
    // Sent on every call: the server refuses a client of another protocol version at once.
    this.authorization = { ...(token ? { authorization: `Bearer ${token}` } : {}), [HEADER.protocol]: String(PROTOCOL_VERSION) };
  }

  /** Registers the tunnel; throws AuthRefusedError on 401, StandinError with the server's message otherwise. */
  async register(registration: RegisterRequest): Promise<RegisterResponse> {
    const response = await this.pool.request({
      method: 'POST',
      path: PATHS.register,
      headers: { ...this.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ ...registration, protocol: PROTOCOL_VERSION }),
      headersTimeout: REGISTER_TIMEOUT_MS,
      bodyTimeout: REGISTER_TIMEOUT_MS,
    });
    const registered = await checkRegisterAnswer(this.serverUrl, response.statusCode, response.headers, response.body, answerError);
    if (registered.protocol !== PROTOCOL_VERSION) {
      // A server from before versioning registers anyway; its answers would not parse.
      await this.release(registered.name, registered.sessionId).catch(() => undefined);
      throw new ProtocolMismatchError(
        `the standin server at ${this.serverUrl.origin} speaks protocol ${registered.protocol ?? 1} and this client speaks protocol ${PROTOCOL_VERSION}: ask the server's operators to upgrade the standin server, or use a client of the server's release`,
      );
    }
    this.pollTimeoutMs = registered.pollTimeoutMs;
    return registered;
  }

  /** Long-polls for the next browser request. */
  async poll(name: string, sessionId: string): Promise<PollAnswer> {
    const response = await this.pool.request({
      method: 'GET',
      path: PATHS.poll(name),
      headers: { ...this.authorization, [HEADER.session]: sessionId },
      // A poll the server does not answer within its own timeout plus grace is dead.
      headersTimeout: this.pollTimeoutMs + POLL_GRACE_MS,
      bodyTimeout: 0,
    });
    return toPollAnswer(response.statusCode, response.body);
  }

  /**
   * Sends the app's answer to one request, streaming `body` (or sending it whole, when it is a
   * Buffer); resolves with the next request (the server holds this POST open as the next poll),
   * or with idle at once when `notAPoll`.
   */
  respond(
    name: string,
    sessionId: string,
    requestId: string,
    meta: ResponseMeta | ProbeResultMeta,
    body: Readable | Buffer | null,
    options: { contentLength?: number; notAPoll?: boolean } = {},
  ): Promise<PollAnswer> {
    const headers: Record<string, string> = { ...this.authorization, [HEADER.session]: sessionId };
    const json = encodeMeta(meta);
    if (options.notAPoll) headers[HEADER.notAPoll] = '1';
    // The frame, then the body. undici sets Content-Length itself for a Buffer body; a stream
    // of known length keeps a Content-Length too (frame + body), else it goes chunked.
    if (body === null || Buffer.isBuffer(body))
      return this.post(PATHS.respond(name, requestId), headers, body ? Buffer.concat([encodeFrame(json), body]) : encodeFrame(json));
    if (options.contentLength !== undefined) headers['content-length'] = String(frameLength(json) + options.contentLength);
    return this.post(PATHS.respond(name, requestId), headers, withFrameFirst(encodeFrame(json), body));
  }

  /**
   * Sends a respond POST whose body the caller frames and streams itself: interim responses first,
   * then the answer's frame and body (client/session/early-respond-post.ts); resolves like respond().
   */
  respondFramed(
    name: string,
    sessionId: string,
    requestId: string,
    framedBody: Readable,
    options: { notAPoll?: boolean } = {},
  ): Promise<PollAnswer> {
    const headers: Record<string, string> = { ...this.authorization, [HEADER.session]: sessionId };
    if (options.notAPoll) headers[HEADER.notAPoll] = '1';
    return this.post(PATHS.respond(name, requestId), headers, framedBody);
  }

  /**
   * Sends the small, complete answers of several requests in one POST, their bodies back to back;
   * resolves like respond().
   */
  respondToSeveral(
    name: string,
    sessionId: string,
    responses: GroupedResponse[],
    bodies: Buffer,
    options: { notAPoll?: boolean } = {},
  ): Promise<PollAnswer> {
    const headers: Record<string, string> = { ...this.authorization, [HEADER.session]: sessionId };
    if (options.notAPoll) headers[HEADER.notAPoll] = '1';
    return this.post(
      PATHS.respondToSeveral(name),
      headers,
      Buffer.concat([encodeFrame(encodeMeta({ kind: 'responses', responses })), bodies]),
    );
  }

  /** A POST whose answer is the next poll answer. */
  private async post(path: string, headers: Record<string, string>, body: Readable | Buffer | null): Promise<PollAnswer> {
    const deadPoll = new DeadPollTimer(this.pollTimeoutMs + POLL_GRACE_MS);
    // undici's headers timer runs from the start of the request, and a streamed body (a long
    // download, server-sent events) can last far longer; so the timer starts when the body ends.
    if (body && !Buffer.isBuffer(body)) body.once('end', () => deadPoll.start());
    else deadPoll.start();
    try {
      const response = await this.pool.request({
        method: 'POST',
        path,
        headers,
        body,
        headersTimeout: 0,
        bodyTimeout: 0,
        signal: deadPoll,
      });
      return await toPollAnswer(response.statusCode, response.body);
    } finally {
      deadPoll.clear();
    }
  }

  /**
   * Sends the 101 of an accepted upgrade and then streams `body` (the app's bytes) for as long as
   * the connection lives; resolves when the server has taken the whole body. This POST goes on
   * node:http on its own connection: undici holds back a request head until the first body byte,
   * and a WebSocket app may stay silent for minutes after its 101.
   */
  respondUpgraded(name: string, sessionId: string, requestId: string, meta: ResponseMeta, body: Readable): Promise<void> {
    const transport = this.serverUrl.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const post = transport.request(new URL(PATHS.respond(name, requestId), this.serverUrl), {
        method: 'POST',
        agent: false,
        headers: { ...this.authorization, [HEADER.session]: sessionId, 'transfer-encoding': 'chunked' },
      });
      post.once('socket', (socket) => socket.setKeepAlive(true, 15_000));
      post.once('error', reject);
      post.once('response', (response) => {
        response.resume();
        if (response.statusCode === 204) response.once('end', () => resolve());
        else
          reject(
            new StandinError(
              `http_${response.statusCode}`,
              `the server answered an upgraded connection's POST with HTTP ${response.statusCode}`,
            ),
          );
      });
      // A body that breaks (the app cut the connection) cuts the POST, which tells the server.
      body.once('error', (error) => post.destroy(error));
      // The frame goes out at once, with the head: the app may stay silent for minutes.
      post.write(encodeFrame(encodeMeta(meta)));
      body.pipe(post);
    });
  }

  /** Releases the tunnel on the server (Ctrl-C); best effort within a few seconds. */
  async release(name: string, sessionId: string): Promise<void> {
    const response = await this.pool.request({
      method: 'DELETE',
      path: PATHS.tunnel(name),
      headers: { ...this.authorization, [HEADER.session]: sessionId },
      headersTimeout: 3_000,
    });
    await response.body.dump();
  }

  /**
   * Sends one outbound call of the cluster proxy (shared/protocol/outbound.ts): `body` is the
   * meta frame followed by the app's request body, streamed. Resolves with the server's answer
   * as soon as its head arrives; the caller reads the body.
   */
  callOutbound(
    name: string,
    sessionId: string,
    body: Readable,
    options: { contentLength?: number; headersTimeoutMs: number; signal: AbortSignal },
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = {
      ...this.authorization,
      [HEADER.session]: sessionId,
      'content-type': 'application/octet-stream',
    };
    if (options.contentLength !== undefined) headers['content-length'] = String(options.contentLength);
    // No body timeout: a server-sent-events answer may stay silent for minutes; keepalive probes
    // on the connection notice a server that vanished.
    return this.pool.request({
      method: 'POST',
      path: PATHS.outbound(name),
      headers,
      body,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: 0,
      signal: options.signal,
    });
  }

  /**
   * Sends a captured request to the server's --fallback app for the inspector's comparison
   * (shared/protocol/compare.ts). Throws StandinError with the server's code when it refuses.
   */
  async compare(name: string, sessionId: string, request: CompareRequest, timeoutMs: number): Promise<CompareResponse> {
    const response = await this.pool.request({
      method: 'POST',
      path: PATHS.compare(name),
      headers: { ...this.authorization, [HEADER.session]: sessionId, 'content-type': 'application/json' },
      body: JSON.stringify(request),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const answer = (await readSmallJson(response.body, MAX_COMPARE_ANSWER_BYTES)) as Partial<CompareResponse & ErrorBody>;
    if (response.statusCode !== 200)
      throw new StandinError(answer.error ?? 'compare_failed', answer.message ?? `the server answered ${response.statusCode}`);
    if (
      typeof answer.status !== 'number' ||
      !Array.isArray(answer.headers) ||
      !answer.headers.every((item) => typeof item === 'string') ||
      typeof answer.bodyBase64 !== 'string'
    ) {
      throw new StandinError('compare_failed', 'the server answered the comparison with something that is not a compare answer');
    }
    return answer as CompareResponse;
  }

  /** Closes every connection to the server at once (parked polls included). */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** A compare answer carries at most 256 KiB of body in base64 plus headers; anything far larger is not one. */
const MAX_COMPARE_ANSWER_BYTES = 1024 * 1024;

/** Reads a JSON answer of at most `maxBytes` (an empty object when it is not JSON); a larger one is cut off and refused. */
async function readSmallJson(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw new StandinError('compare_failed', `the server's answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
  } catch {
    return {};
  }
}

/**
 * Aborts a respond POST whose answer does not come within the poll timeout after its body ended.
 * It is the request's abort signal itself: undici takes an EventEmitter that emits 'abort' (and
 * reads `reason`), which costs far less per request than an AbortController.
 */
class DeadPollTimer extends EventEmitter {
  aborted = false;
  reason: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly timeoutMs: number) {
    super();
  }
  start(): void {
    this.timer = setTimeout(() => {
      this.aborted = true;
      this.reason = new StandinError('poll_timeout', 'the server did not answer a poll in time');
      this.emit('abort');
    }, this.timeoutMs);
  }
  clear(): void {
    clearTimeout(this.timer);
  }
}

async function toPollAnswer(status: number, body: Readable & { dump(): Promise<void>; text(): Promise<string> }): Promise<PollAnswer> {
  if (status === 200) {
    const parsed = await readPollFrame(body);
    if (parsed.kind === 'request') return { kind: 'request', meta: parsed, body };
    await body.dump();
    if (parsed.kind === 'batch') return { kind: 'batch', requests: parsed.requests };
    return { kind: 'probe', meta: parsed };
  }
  if (status === 204) {
    await body.dump();
    return { kind: 'idle' };
  }
  throw await answerError(status, body);
}

/**
 * How long the frame of a poll answer may take after its head. The server writes both at once, so
 * a frame that stops coming is a path gone silent (no FIN, no RST); without a bound it would hold
 * the slot for good. Well inside the server's POLL_GRACE_MS, so the slot polls again (after
 * POLL_ANSWER_DRAIN_TIMEOUT_MS more) before the server takes the client for gone.
 */
const POLL_FRAME_TIMEOUT_MS = 2_500;

/** How long the rest of an unreadable poll answer may take to be read away before its connection is cut. */
const POLL_ANSWER_DRAIN_TIMEOUT_MS = 1_000;

/**
 * The frame of a 200 poll answer. Whatever went wrong with this one answer (cut, reset, not a
 * frame: a proxy in between mangled it) is a BadPollAnswerError, which makes the slot poll
 * again at once instead of reconnecting: the server and the session are fine.
 */
async function readPollFrame(body: Readable & { dump(options?: { signal?: AbortSignal }): Promise<void> }): Promise<PollMeta> {
  try {
    return parsePollMeta(await readFrame(body, { timeoutMs: POLL_FRAME_TIMEOUT_MS }));
  } catch (error) {
    // Whatever is left of the answer is read away (undici caps that) so the connection is freed;
    // if the rest does not come either, the connection is cut.
    await body.dump({ signal: AbortSignal.timeout(POLL_ANSWER_DRAIN_TIMEOUT_MS) }).catch(() => undefined);
    throw new BadPollAnswerError(`a poll answer could not be read: ${(error as Error).message}`, { cause: error });
  }
}

/** A stream that yields `frame` and then every byte of `body`, errors included, with backpressure. */
function withFrameFirst(frame: Buffer, body: Readable): Readable {
  const framed = new PassThrough();
  framed.write(frame);
  body.once('error', (error) => framed.destroy(error));
  // The app request is abandoned when the POST is (browser gone, server cut it).
  framed.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  body.pipe(framed);
  return framed;
}

/** Turns a non-2xx answer of the client API into the error the client acts on. */
async function answerError(status: number, body: { text(): Promise<string> }): Promise<StandinError> {
  let parsed: Partial<ErrorBody> = {};
  try {
    parsed = JSON.parse(await body.text()) as Partial<ErrorBody>;
  } catch {
    // Not one of ours: a proxy in between answered (an nginx 502 page). The session may well be
    // fine; one bad answer must not cost the tunnel a reconnect.
    if (status !== 401) return new BadPollAnswerError(`a proxy between client and server answered HTTP ${status}`);
  }
  const message = parsed.message ?? `the server answered HTTP ${status}`;
  if (status === 401) return new AuthRefusedError(`the server refused the token: ${message}`);
  if (isSessionEndedCode(parsed.error)) return new SessionEndedError(parsed.error, message, parseSessionEndReason(parsed.reason));
  return new StandinError(parsed.error ?? `http_${status}`, message);
}
