/**
 * The wire protocol between the standin client and server, defined once (docs/wire-protocol.md
 * describes it in prose).
 *
 * Every exchange is an ordinary HTTP/1.1 message. Metadata (which request, its method, URL and
 * headers; or the app's status and headers) travels as one JSON record framed at the start of
 * the body (shared/wire-frame.ts: `<length>\n<JSON>`), and the raw body bytes follow untouched,
 * so bodies stream with backpressure and are never base64 or JSON encoded. HTTP headers between
 * client and server carry only fixed, small things (session, protocol version, not-a-poll), so
 * proxy header limits (nginx's 4 KiB proxy buffer, 8 KiB client header buffers) never meet a
 * browser's cookies or an app's Set-Cookie.
 *
 * - Register:  POST   /_standin/v1/tunnels                       JSON RegisterRequest → 201 RegisterResponse
 * - Poll:      GET    /_standin/v1/tunnels/<name>/poll           → a PollAnswer (see below)
 * - Respond:   POST   /_standin/v1/tunnels/<name>/responses/<id> frame = ResponseMeta, then the app body
 *                                                               → a PollAnswer: the POST is held open as
 *                                                                 the client's next poll
 * - Respond to several:
 *              POST   /_standin/v1/tunnels/<name>/responses      frame = ResponseGroupMeta, then the
 *                                                                 bodies back to back → a PollAnswer
 * - Release:   DELETE /_standin/v1/tunnels/<name>                → 204
 *
 * A PollAnswer is one of:
 * - 200 with frame = RequestMeta, then the browser's request body: a request to replay;
 * - 200 with frame = RequestBatchMeta and nothing after it: several bodiless requests to replay.
 *   A busy tunnel's queue is handed over this way (up to MAX_BATCH_REQUESTS at once), and the
 *   client answers the small complete responses among them together in one respond-to-several
 *   POST, so the control exchange per request is shared by several requests;
 * - 200 with frame = ProbeMeta and nothing after it: a health probe. The client checks the local
 *   app and answers with a respond POST under the probe's id whose frame is a ProbeResultMeta;
 *   probes never reach the app as a request and never show in the client's request log;
 * - 204: the poll timed out with nothing to do, poll again;
 * - 4xx/5xx with a JSON ErrorBody: the session is over (`error` and `reason` say why) or the call was wrong.
 *
 * Upgrades (WebSocket and any other `Upgrade` protocol) ride on the same two messages:
 * - the poll answer's frame has `upgrade: true` and its body stays open: after the app accepted
 *   the upgrade it carries the bytes the browser sends (chunked, open-ended; its end is the
 *   browser's half-close);
 * - the client answers with a respond POST whose frame is `status: 101` and the app's raw headers
 *   untouched, followed by the bytes the app sends (its end is the app's half-close). That
 *   POST is not held as a poll: the server answers it 204 when its body ends, and the client's
 *   poll slot goes back to polling as soon as the app accepted. A refused upgrade (any status but
 *   101) is an ordinary response; the server then ends the poll answer's body at once.
 *
 * A respond POST with `x-standin-not-a-poll: 1` is answered 204 once its body is taken instead of
 * being held as a poll: the client sends it when it already has more polls open than it wants,
 * and for a response that streams (an event stream must not hold a poll for hours).
 *
 * Optional parts (ProtocolFeature), used by a client only with a server whose registration
 * answer lists them, so releases within protocol 2 keep working together:
 * - `interim-responses`: a respond POST may start with InterimResponseMeta frames (the app's 1xx,
 *   103 Early Hints), each written to the browser as it arrives, before the response's frame;
 * - `streamed-trailers`: a response frame with `trailersFollow` is followed by the app's body in
 *   chunks and a closing trailers frame (shared/body-chunks.ts), so a streamed response keeps
 *   its trailers.
 *
 * The client sends PROTOCOL_VERSION in the registration body and in `x-standin-protocol` on
 * every call; the server refuses another version with 400 naming both versions, so a client and
 * server of different releases fail at once with a clear message instead of misreading frames.
 * Poll, respond and release carry the session id from registration in `x-standin-session`, and
 * the server accepts a response only from the session it handed the request to. Everything under
 * /_standin/v1/ requires the bearer token when the server has one.
 */

import { ProtocolError } from './errors';
import type { SessionEndReason } from './session-end';

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

/** Prefix of the whole control plane on the server's main port. */
export const CONTROL_PREFIX = '/_standin/';

/** Prefix of the client endpoints; everything below it needs the client token. */
export const CLIENT_API_PREFIX = '/_standin/v1/';

/** Endpoint paths of the client protocol. */
export const PATHS = {
  register: '/_standin/v1/tunnels',
  tunnel: (name: string) => `/_standin/v1/tunnels/${name}`,
  poll: (name: string) => `/_standin/v1/tunnels/${name}/poll`,
  respond: (name: string, requestId: string) => `/_standin/v1/tunnels/${name}/responses/${requestId}`,
  respondToSeveral: (name: string) => `/_standin/v1/tunnels/${name}/responses`,
  healthz: '/_standin/healthz',
  /** `GET /_standin/select/<name>` sets the selector cookie; `/_standin/select/none` clears it. */
  select: (name: string) => `/_standin/select/${name}`,
} as const;

/** Prefix of the select endpoint, which a browser reaches through the site's own host. */
export const SELECT_PREFIX = '/_standin/select/';

/** The cookie that selects a tunnel on the main port (docs/design.md "Routing"). */
export const TUNNEL_COOKIE = 'standin-tunnel';

/** `/_standin/select/none` clears the selection, so no tunnel may be called "none". */
export const NO_TUNNEL_NAME = 'none';

/** Header names, lower case as Node exposes them. User-facing ones are a contract (docs/design.md "Trace headers"). */
export const HEADER = {
  /** Internal: PROTOCOL_VERSION of the client, on every call to the client API. */
  protocol: 'x-standin-protocol',
  /** Internal, protocol 1 only: its metadata header. Still dropped from browser requests. */
  legacyMeta: 'x-standin-meta',
  /** Internal: the session id a client got at registration. */
  session: 'x-standin-session',
  /** The standin request id, to the app and back to the browser. */
  requestId: 'x-standin-request-id',
  /** The tunnel that served a request; also a selector on the main port. */
  tunnel: 'x-standin-tunnel',
  /** The error code when standin itself answered. */
  error: 'x-standin-error',
  /** On a main-port response from --fallback: why it went there (no_selector, unknown_tunnel, tunnel_offline). */
  fallback: 'x-standin-fallback',
  xRequestId: 'x-request-id',
  traceparent: 'traceparent',
  forwardedFor: 'x-forwarded-for',
  forwardedHost: 'x-forwarded-host',
  forwardedProto: 'x-forwarded-proto',
  via: 'via',
  serverTiming: 'server-timing',
  authorization: 'authorization',
  /** To the app on a request replayed from the inspector: the id of the request it repeats. */
  replayOf: 'x-standin-replay-of',
  /** Tells nginx (and ingress-nginx) not to buffer a streamed response. */
  accelBuffering: 'x-accel-buffering',
  /** On a respond POST: answer 204 after the body, do not hold it as a poll. */
  notAPoll: 'x-standin-not-a-poll',
} as const;

/** The value standin appends to `Via` (RFC 9110 §7.6.3). */
export const VIA_VALUE = '1.1 standin';

/** Tunnel names are DNS labels so that they also work as host selectors (`<name>.<domain>`). */
export const TUNNEL_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Request ids are uuid v4, lower case. */
export const REQUEST_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Largest JSON body the control API accepts (registration); anything bigger is refused with 413. */
export const MAX_CONTROL_BODY_BYTES = 16 * 1024;

/**
 * The one head-size limit: browser request heads on the tunnel ports and the main port (then
 * 431, `standin server --max-header-size` changes it), app response heads on the client (then
 * 502 app_error), and the control connections. 64 KiB lets a site's single-sign-on cookies
 * through; JSON-encoded, such a head still fits one MAX_META_FRAME_BYTES frame.
 */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Largest metadata record (JSON) of one message (shared/wire-frame.ts); a bigger one is refused. */
export const MAX_META_FRAME_BYTES = 256 * 1024;

/** How much longer than the poll timeout a poll may stay silent before either side calls it dead. */
export const POLL_GRACE_MS = 5_000;

/**
 * How long a client waits before registering again after the server said it is shutting down
 * (503 `server_shutdown`): long enough for a replacement to be listening, far shorter than backoff.
 */
export const SHUTDOWN_RECONNECT_DELAY_MS = 1_000;

/** Raw headers as Node's `rawHeaders`: [name, value, name, value, ...], case and duplicates kept. */
export type RawHeaders = string[];

/** Sent in the body of POST /_standin/v1/tunnels. */
export interface RegisterRequest {
  /** Requested tunnel name (a DNS label). */
  name: string;
  /** Preferred public port, usually the one this name had last time. */
  port?: number;
  /** The local target as the client sees it, for status pages. */
  target: string;
  /** Requested lifetime in ms; the server caps it at its --max-ttl. */
  ttlMs?: number;
  /** Client version, for status pages. */
  version?: string;
  /** user@host of the client, for status pages (informative only: the server's auth decides who owns a tunnel). */
  owner?: string;
  /** The client's PROTOCOL_VERSION; absent from clients before protocol 2, which are refused. */
  protocol?: number;
  /** The key the server gave out when this client first claimed the name; proves it holds the name. */
  claimKey?: string;
  /** Serve only browsers that opened the access link (`standin connect --private`). */
  private?: boolean;
  /**
   * Run a health check as soon as the client polls, so a new tunnel's health is known at once
   * rather than after --health-interval. Optional: a client that cannot answer probes (or does
   * not expect one as its first poll answer) leaves it out.
   */
  checkAtStart?: boolean;
}

/**
 * Links that reach a tunnel from a browser, as the server knows them (its --site, --host-url,
 * --port-url). Only working links are set; the client prints exactly these.
 */
export interface PublicUrls {
  /** `<site>/_standin/select/<name>`: sets the selector cookie on the test site (with --site). */
  select?: string;
  /** The tunnel's own host, from --host-url (wildcard host selection). */
  host?: string;
  /** The tunnel's own port, from --port-url, else `http://<host the client used>:<port>/` (port mode only). */
  port?: string;
}

/** The 201 answer to a registration. */
export interface RegisterResponse {
  name: string;
  /** Secret of this client session; poll, respond and release must present it. */
  sessionId: string;
  /** The tunnel's own public port, or null when the server runs without per-tunnel ports. */
  port: number | null;
  /** ISO time the tunnel expires. */
  expiresAt: string;
  /** How long the server holds an idle poll before answering 204. */
  pollTimeoutMs: number;
  /** How long the server waits for a response head before answering 504. */
  requestTimeoutMs: number;
  /** The server's PROTOCOL_VERSION; absent from servers before protocol 2. */
  protocol?: number;
  /** Links to the tunnel that work from a browser; older servers do not send them. */
  urls?: PublicUrls;
  /**
   * Given once, when this registration claimed a free name with a shared token (or on an open
   * server): the client keeps it (~/.standin/state.json) and sends it with every later
   * registration of the name; without it nobody else can take the name while it is in use.
   */
  claimKey?: string;
  /** With `private`: the key of the access link `/_standin/select/<name>?key=<accessKey>`. */
  accessKey?: string;
  /** The optional parts of the protocol this server understands (PROTOCOL_FEATURES); older servers send none. */
  features?: string[];
}

/** Polls one session may hold open at once (the client keeps --concurrency); more are answered 429 too_many_polls. */
export const MAX_POLLS_PER_SESSION = 256;

/** Meta of a 200 poll answer: one browser request to replay. Its body is the poll answer's body. */
export interface RequestMeta {
  kind: 'request';
  id: string;
  method: string;
  /** Path and query as the browser sent them. */
  url: string;
  /** Headers for the app: hop-by-hop removed, trace headers added. Host is still the browser's. */
  headers: RawHeaders;
  /** Whether the browser sent a body (Content-Length > 0 or Transfer-Encoding). */
  hasBody: boolean;
  /** Time the request waited on the server for a poll, ms; set at handover (absent from older servers). */
  queuedMs?: number;
  /**
   * An upgrade handshake (WebSocket or another protocol): headers keep Connection and Upgrade,
   * and the poll answer's body is the stream of bytes the browser sends after a 101.
   */
  upgrade?: boolean;
}

/** Meta of a respond POST: the app's response head; the POST body is the app's response body. */
export interface AppResponseMeta {
  kind: 'response';
  status: number;
  /** The app's own reason phrase (`299 Whatever`), when it sent one; the server checks it before use. */
  statusMessage?: string;
  headers: RawHeaders;
  /** Time the client spent in the local app until the response head, ms. */
  appMs: number;
  /**
   * Trailer fields that followed the app's chunked body (RFC 9110 §6.5), sent when the whole
   * response was complete before the respond POST started; the server writes them after the body.
   */
  trailers?: RawHeaders;
  /**
   * Set on a streamed response whose app announced trailers (`streamed-trailers`): the body
   * after this frame is in chunks and ends with a TrailersMeta frame (shared/body-chunks.ts).
   */
  trailersFollow?: true;
}

/**
 * An interim (1xx) response of the app (`interim-responses`): framed in the respond POST before
 * the response's own frame, and written to the browser before the final head (RFC 9110 §15.2).
 */
export interface InterimResponseMeta {
  kind: 'interim';
  /** 102-199: 100 Continue is the server's own business, 101 only ends an upgrade handshake. */
  status: number;
  statusMessage?: string;
  headers: RawHeaders;
}

/** Most interim responses passed on per request; the client drops the rest (an app may send 102 every second). */
export const MAX_INTERIM_RESPONSES = 16;

/** The frame that closes a chunked response body (`trailersFollow`): the app's trailer fields. */
export interface TrailersMeta {
  kind: 'trailers';
  trailers: RawHeaders;
}

/** Meta of a respond POST when the client could not get a response head from the app. */
export interface AppFailureMeta {
  kind: 'failure';
  code: AppFailureCode;
  message: string;
  appMs: number;
}

/** What the client reports for one request. */
export type ResponseMeta = AppResponseMeta | AppFailureMeta;

/** Meta of a 200 poll answer that is a health probe (no body): check the local app, answer under `id`. */
export interface ProbeMeta {
  kind: 'probe';
  /** A uuid v4, used like a request id in the respond path. */
  id: string;
}

/** Meta of the respond POST (empty body) that answers a probe. */
export interface ProbeResultMeta {
  kind: 'probe-result';
  /** Whether the local app accepted a connection (or answered the health path with a non-5xx). */
  ok: boolean;
  /** Why the check failed, for the health history. */
  error?: string;
  /** Time the client spent checking the app, ms. */
  appMs: number;
}

/** Meta of a 200 poll answer (empty body) that hands over several bodiless requests at once. */
export interface RequestBatchMeta {
  kind: 'batch';
  requests: RequestMeta[];
}

/** Most requests one poll answer hands over, and most responses one POST carries. */
export const MAX_BATCH_REQUESTS = 16;

/**
 * Most bytes of meta a batch (or a group of responses) gathers in its one frame, well under
 * MAX_META_FRAME_BYTES; what does not fit goes in the next one.
 */
export const MAX_BATCH_META_BYTES = 64 * 1024;

/** Largest body of a response that may travel in a group (bigger ones stream on their own POST). */
export const MAX_GROUPED_BODY_BYTES = 64 * 1024;

/** One response in a respond-to-several POST: its body is the next `bodyBytes` of the POST body. */
export type GroupedResponse = ResponseMeta & { id: string; bodyBytes: number };

/** Meta of a respond-to-several POST. */
export interface ResponseGroupMeta {
  kind: 'responses';
  responses: GroupedResponse[];
}

/** What a 200 poll answer carries. */
export type PollMeta = RequestMeta | RequestBatchMeta | ProbeMeta;

// The session-end reasons live in their own module, so errors.ts can name them without importing this file.
export { SESSION_END_REASONS, type SessionEndReason } from './session-end';

/** Error codes the browser can get from standin itself (docs/design.md "Errors"). */
export const STANDIN_ERROR_STATUS = {
  app_unreachable: 502,
  app_error: 502,
  tunnel_offline: 503,
  tunnel_expired: 503,
  queue_full: 503,
  /** The tunnel carries --max-upgrades open upgraded connections (WebSockets) already. */
  upgrade_limit: 503,
  no_tunnel: 404,
  timeout: 504,
  /** The --fallback app (the in-cluster service) refused or broke the connection. */
  fallback_unreachable: 502,
  /** The request's head does not fit one metadata frame (only past a raised --max-header-size). */
  head_too_large: 431,
  /** A private tunnel (`connect --private`) and the browser has not opened its access link. */
  tunnel_private: 403,
} as const;

/** A code of an error that standin answers the browser with. */
export type StandinErrorCode = keyof typeof STANDIN_ERROR_STATUS;

/** The codes the client may report instead of a response head. */
export type AppFailureCode = 'app_unreachable' | 'app_error';

/** Error codes of the client API, in the JSON ErrorBody of a non-2xx answer. */
export type ControlErrorCode =
  | 'unauthorized'
  | 'bad_request'
  | 'not_found'
  | 'payload_too_large'
  | 'unknown_session'
  | 'unknown_request'
  | 'no_free_port'
  /** The name is held by another developer (a live or reserved claim). */
  | 'name_in_use'
  /** A tokens-file or OIDC user asked for a name outside their globs. */
  | 'name_not_allowed'
  /** --max-tunnels-per-user reached. */
  | 'too_many_tunnels'
  /** Too many failed authentications from this address; wait (Retry-After). */
  | 'too_many_auth_failures'
  /** Authenticated, but this caller may not do that. */
  | 'forbidden'
  | 'session_replaced'
  | 'tunnel_stopped'
  | 'server_shutdown'
  | 'too_many_polls'
  /** Replica mode: the shared registry (Redis) cannot be reached; registration is retried. */
  | 'registry_unavailable'
  | 'internal_error';

/** JSON body of every non-2xx control answer. */
export interface ErrorBody {
  error: ControlErrorCode;
  message: string;
  /** With `tunnel_stopped` and `session_replaced`: why the session ended, machine-readable. */
  reason?: SessionEndReason;
}

/** Parses a RegisterRequest from untrusted JSON, or throws ProtocolError saying what is wrong. */
export function parseRegisterRequest(value: unknown): RegisterRequest {
  const body = expectObject(value, 'registration body');
  const name = expectString(body.name, 'name');
  if (!TUNNEL_NAME_PATTERN.test(name)) {
    throw new ProtocolError(`name "${name.slice(0, 80)}" is not a DNS label: use 1-63 of a-z, 0-9 and "-", not starting or ending with "-"`);
  }
  if (name === NO_TUNNEL_NAME) throw new ProtocolError(`name "${NO_TUNNEL_NAME}" is reserved: /_standin/select/${NO_TUNNEL_NAME} clears the selection`);
  const request: RegisterRequest = { name, target: expectString(body.target, 'target').slice(0, 200) };
  if (body.port !== undefined && body.port !== null) request.port = expectInteger(body.port, 'port', 1, 65535);
  if (body.ttlMs !== undefined && body.ttlMs !== null) request.ttlMs = expectInteger(body.ttlMs, 'ttlMs', 1, Number.MAX_SAFE_INTEGER);
  if (body.version !== undefined) request.version = expectString(body.version, 'version').slice(0, 40);
  if (body.owner !== undefined) request.owner = expectString(body.owner, 'owner').slice(0, 120);
  request.protocol = expectProtocolVersion(body.protocol, body.version);
  if (body.claimKey !== undefined && body.claimKey !== null) request.claimKey = expectString(body.claimKey, 'claimKey').slice(0, 200);
  if (body.private === true) request.private = true;
  if (body.checkAtStart === true) request.checkAtStart = true;
  return request;
}

/**
 * Checks the protocol version a client registers with, or throws ProtocolError naming both
 * versions and which side to upgrade (an old client sends none).
 */
export function expectProtocolVersion(value: unknown, clientVersion?: unknown): number {
  const release = typeof clientVersion === 'string' ? ` (standin ${clientVersion.slice(0, 40)})` : '';
  if (value === PROTOCOL_VERSION) return PROTOCOL_VERSION;
  if (value === undefined || value === null) {
    throw new ProtocolError(`this standin server speaks protocol ${PROTOCOL_VERSION} and your client${release} speaks protocol 1: upgrade the client (npm install -g standin@latest, or npx standin@latest)`);
  }
  const older = typeof value === 'number' && value < PROTOCOL_VERSION;
  throw new ProtocolError(
    `this standin server speaks protocol ${PROTOCOL_VERSION} and your client${release} speaks protocol ${JSON.stringify(value).slice(0, 20)}: ${older ? 'upgrade the client (npm install -g standin@latest)' : 'ask the server\'s operators to upgrade the standin server, or use a client of the server\'s release'}`,
  );
}

/** Parses the frame of a 200 poll answer (a request, a batch or a probe), or throws ProtocolError. */
export function parsePollMeta(json: string): PollMeta {
  const meta = expectObject(parseJson(json), 'poll meta');
  if (meta.kind === 'probe') return { kind: 'probe', id: expectString(meta.id, 'id') };
  if (meta.kind === 'batch') {
    const requests = expectList(meta.requests, 'requests', MAX_BATCH_REQUESTS).map((item) => toRequestMeta(expectObject(item, 'batched request')));
    if (requests.some((request) => request.hasBody || request.upgrade)) throw new ProtocolError('a batch carries only bodiless, non-upgrade requests');
    return { kind: 'batch', requests };
  }
  return toRequestMeta(meta);
}

/**
 * The meta of a batch, built from the requests' own encoded metas (each encoded once,
 * when the server measures whether it still fits).
 */
export function encodeBatchMeta(encodedRequests: string[]): string {
  return `{"kind":"batch","requests":[${encodedRequests.join(',')}]}`;
}

/** Parses the frame of a poll answer that must be a request, or throws ProtocolError. */
export function parseRequestMeta(json: string): RequestMeta {
  return toRequestMeta(expectObject(parseJson(json), 'request meta'));
}

/** Parses the frame of a respond POST that answers a probe, or throws ProtocolError. */
export function parseProbeResultMeta(json: string): ProbeResultMeta {
  const meta = expectObject(parseJson(json), 'probe result meta');
  if (meta.kind !== 'probe-result') throw new ProtocolError(`meta kind must be "probe-result", got ${JSON.stringify(meta.kind)}`);
  const appMs = typeof meta.appMs === 'number' && Number.isFinite(meta.appMs) ? Math.max(0, meta.appMs) : 0;
  const result: ProbeResultMeta = { kind: 'probe-result', ok: meta.ok === true, appMs };
  if (meta.error !== undefined) result.error = expectString(meta.error, 'error').slice(0, 300);
  return result;
}

function toRequestMeta(meta: Record<string, unknown>): RequestMeta {
  if (meta.kind !== 'request') throw new ProtocolError(`unexpected meta kind ${JSON.stringify(meta.kind)}`);
  return {
    kind: 'request',
    id: expectString(meta.id, 'id'),
    method: expectString(meta.method, 'method'),
    url: expectString(meta.url, 'url'),
    headers: expectRawHeaders(meta.headers),
    hasBody: meta.hasBody === true,
    ...(typeof meta.queuedMs === 'number' && Number.isFinite(meta.queuedMs) ? { queuedMs: Math.max(0, meta.queuedMs) } : {}),
    ...(meta.upgrade === true ? { upgrade: true } : {}),
  };
}

/** Parses the frame of a respond POST, or throws ProtocolError saying what is wrong. */
export function parseResponseMeta(json: string): ResponseMeta {
  return respondedMeta(expectObject(parseJson(json), 'response meta'));
}

/** Parses a frame of a respond POST that may also be an interim response, or throws ProtocolError. */
export function parseRespondFrame(json: string): ResponseMeta | InterimResponseMeta {
  const meta = expectObject(parseJson(json), 'response meta');
  if (meta.kind !== 'interim') return respondedMeta(meta);
  const interim: InterimResponseMeta = { kind: 'interim', status: expectInteger(meta.status, 'status', 102, 199), headers: expectRawHeaders(meta.headers) };
  if (isReasonPhrase(meta.statusMessage)) interim.statusMessage = meta.statusMessage;
  return interim;
}

/** The meta of a response on its own POST: only such a one (never one in a group) may have its body in chunks. */
function respondedMeta(meta: Record<string, unknown>): ResponseMeta {
  const response = toResponseMeta(meta);
  if (response.kind === 'response' && meta.trailersFollow === true) response.trailersFollow = true;
  return response;
}

/** Parses the trailers frame that closes a chunked response body; returns the forwardable trailers. */
export function parseTrailersMeta(json: string): RawHeaders {
  const meta = expectObject(parseJson(json), 'trailers meta');
  if (meta.kind !== 'trailers') throw new ProtocolError(`meta kind must be "trailers", got ${JSON.stringify(meta.kind)}`);
  return forwardableTrailers(expectRawHeaders(meta.trailers));
}

/** Parses the frame of a respond-to-several POST, or throws ProtocolError saying what is wrong. */
export function parseResponseGroupMeta(json: string): ResponseGroupMeta {
  const meta = expectObject(parseJson(json), 'response group meta');
  if (meta.kind !== 'responses') throw new ProtocolError(`meta kind must be "responses", got ${JSON.stringify(meta.kind)}`);
  const responses = expectList(meta.responses, 'responses', MAX_BATCH_REQUESTS).map((item) => {
    const response = expectObject(item, 'grouped response');
    const id = expectString(response.id, 'id');
    if (!REQUEST_ID_PATTERN.test(id)) throw new ProtocolError('id of a grouped response must be a uuid v4');
    const bodyBytes = expectInteger(response.bodyBytes, 'bodyBytes', 0, MAX_GROUPED_BODY_BYTES);
    return { ...toResponseMeta(response), id, bodyBytes };
  });
  return { kind: 'responses', responses };
}

function toResponseMeta(meta: Record<string, unknown>): ResponseMeta {
  const appMs = typeof meta.appMs === 'number' && Number.isFinite(meta.appMs) ? Math.max(0, meta.appMs) : 0;
  switch (meta.kind) {
    case 'response': {
      const response: AppResponseMeta = { kind: 'response', status: expectInteger(meta.status, 'status', 100, 999), headers: expectRawHeaders(meta.headers), appMs };
      if (isReasonPhrase(meta.statusMessage)) response.statusMessage = meta.statusMessage;
      if (meta.trailers !== undefined) response.trailers = forwardableTrailers(expectRawHeaders(meta.trailers));
      return response;
    }
    case 'failure': {
      const code = meta.code === 'app_unreachable' ? 'app_unreachable' : 'app_error';
      return { kind: 'failure', code, message: expectString(meta.message, 'message').slice(0, 500), appMs };
    }
    default:
      throw new ProtocolError(`meta kind must be "response" or "failure", got ${JSON.stringify(meta.kind)}`);
  }
}

/** RFC 9112 §4 reason-phrase: HTAB, SP, visible ASCII and obs-text; kept short. */
const REASON_PHRASE_PATTERN = /^[\t\x20-\x7e\x80-\xff]{0,200}$/;

function isReasonPhrase(value: unknown): value is string {
  return typeof value === 'string' && REASON_PHRASE_PATTERN.test(value);
}

/** An HTTP token (RFC 9110 §5.6.2), the syntax of a field name. */
const TOKEN_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A field value Node writes without complaint: no CR, LF, NUL or other controls but HTAB. */
const FIELD_VALUE_PATTERN = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Fields a trailer must not carry (RFC 9110 §6.5.1: framing, routing, authentication, and
 * fields that change how the content is read); such trailers are dropped, as are malformed ones.
 */
const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'trailer', 'host', 'content-encoding', 'content-type', 'content-range', 'authorization', 'set-cookie', 'cache-control', 'expect', 'te']);

/** The trailers that may be written to the browser: well-formed and not forbidden. */
export function forwardableTrailers(trailers: RawHeaders): RawHeaders {
  const kept: RawHeaders = [];
  for (let i = 0; i < trailers.length; i += 2) {
    const name = trailers[i];
    const value = trailers[i + 1];
    if (!TOKEN_PATTERN.test(name) || !FIELD_VALUE_PATTERN.test(value) || FORBIDDEN_TRAILERS.has(name.toLowerCase())) continue;
    kept.push(name, value);
  }
  return kept;
}

/** Encodes meta as the JSON of a metadata frame (shared/wire-frame.ts encodeFrame frames it). */
export function encodeMeta(meta: PollMeta | ResponseMeta | ResponseGroupMeta | ProbeResultMeta | InterimResponseMeta | TrailersMeta): string {
  return JSON.stringify(meta);
}

function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    throw new ProtocolError('the metadata frame is not valid JSON');
  }
}

function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function expectString(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new ProtocolError(`${field} must be a string`);
  return value;
}

function expectInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ProtocolError(`${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function expectList(value: unknown, field: string, maxLength: number): unknown[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > maxLength) {
    throw new ProtocolError(`${field} must be a list of 1 to ${maxLength} items`);
  }
  return value;
}

function expectRawHeaders(value: unknown): RawHeaders {
  if (!Array.isArray(value) || value.length % 2 !== 0 || !value.every((item) => typeof item === 'string')) {
    throw new ProtocolError('headers must be a flat array of [name, value, ...] strings');
  }
  return value as RawHeaders;
}
