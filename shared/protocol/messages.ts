/**
 * The messages of the wire protocol between the standin client and server: one closed set of
 * types, each read by message-codecs.ts (docs/wire-protocol.md describes them in prose).
 *
 * Every exchange is an ordinary HTTP/1.1 message. Metadata (which request, its method, URL and
 * headers; or the app's status and headers) travels as one JSON record framed at the start of
 * the body (wire-frame.ts: `<length>\n<JSON>`), and the raw body bytes follow untouched,
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
 * Poll, respond and release carry the session id from registration in `x-standin-session`, and
 * the server accepts a response only from the session it handed the request to. Everything under
 * /_standin/v1/ requires the bearer token when the server has one. The protocol version and its
 * optional parts are in version.ts, the paths in paths.ts, the bounds in limits.ts.
 */

import type { AppFailureCode } from './error-codes';

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
   * after this frame is in chunks and ends with a TrailersMeta frame (body-chunks.ts).
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

/** One response in a respond-to-several POST: its body is the next `bodyBytes` of the POST body. */
export type GroupedResponse = ResponseMeta & { id: string; bodyBytes: number };

/** Meta of a respond-to-several POST. */
export interface ResponseGroupMeta {
  kind: 'responses';
  responses: GroupedResponse[];
}

/** What a 200 poll answer carries. */
export type PollMeta = RequestMeta | RequestBatchMeta | ProbeMeta;
