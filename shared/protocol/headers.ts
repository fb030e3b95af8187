/**
 * Header and cookie names of standin, lower case as Node exposes them. The internal ones travel
 * only between client and server and carry fixed, small things (session, protocol version,
 * not-a-poll); the user-facing ones are a contract (docs/design.md "Trace headers").
 */

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

/** The cookie that selects a tunnel on the main port (docs/design.md "Routing"). */
export const TUNNEL_COOKIE = 'standin-tunnel';
