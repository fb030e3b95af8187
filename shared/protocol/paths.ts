/**
 * The URL grammar of the client API, written once: the client builds its paths with
 * PATHS and the server routes with parseTunnelPath, both from the same endpoint suffixes, so the
 * two cannot drift apart.
 *
 * - Register:  POST   /_standin/v1/tunnels                       JSON RegisterRequest → 201 RegisterResponse
 * - Poll:      GET    /_standin/v1/tunnels/<name>/poll           → a PollAnswer (messages.ts)
 * - Respond:   POST   /_standin/v1/tunnels/<name>/responses/<id> → a PollAnswer (held as the next poll)
 * - Respond to several:
 *              POST   /_standin/v1/tunnels/<name>/responses      → a PollAnswer
 * - Outbound:  POST   /_standin/v1/tunnels/<name>/outbound       (outbound.ts)
 * - Compare:   POST   /_standin/v1/tunnels/<name>/compare        (compare.ts)
 * - Release:   DELETE /_standin/v1/tunnels/<name>                → 204
 *
 * The status API under /_standin/api/ has its own paths (status-api.ts).
 */

/** Prefix of everything standin itself answers on the main port (client API and control plane), never tunnel traffic. */
export const STANDIN_PATH_PREFIX = '/_standin/';

/** Prefix of the client endpoints; everything below it needs the client token. */
export const CLIENT_API_PREFIX = '/_standin/v1/';

/** The collection of tunnels: POST here registers one; each tunnel's endpoints are below it. */
const TUNNELS_PATH = '/_standin/v1/tunnels';

/**
 * What follows `/_standin/v1/tunnels/<name>` for each endpoint of one tunnel (respond's suffix is
 * followed by `/<request id>`).
 */
const TUNNEL_ENDPOINT_SUFFIX = {
  release: '',
  poll: '/poll',
  respond: '/responses',
  respondToSeveral: '/responses',
  outbound: '/outbound',
  compare: '/compare',
} as const;

/** One endpoint of a tunnel in the client API. */
export type TunnelEndpoint = keyof typeof TUNNEL_ENDPOINT_SUFFIX;

function tunnelPath(name: string, endpoint: TunnelEndpoint): string {
  return `${TUNNELS_PATH}/${name}${TUNNEL_ENDPOINT_SUFFIX[endpoint]}`;
}

/** Endpoint paths of the client protocol. */
export const PATHS = {
  register: TUNNELS_PATH,
  tunnel: (name: string) => tunnelPath(name, 'release'),
  poll: (name: string) => tunnelPath(name, 'poll'),
  respond: (name: string, requestId: string) => `${tunnelPath(name, 'respond')}/${requestId}`,
  respondToSeveral: (name: string) => tunnelPath(name, 'respondToSeveral'),
  outbound: (name: string) => tunnelPath(name, 'outbound'),
  compare: (name: string) => tunnelPath(name, 'compare'),
  healthz: '/_standin/healthz',
  /** `GET /_standin/select/<name>` sets the selector cookie; `/_standin/select/none` clears it. */
  select: (name: string) => `/_standin/select/${name}`,
} as const;

/** A request path below /_standin/v1/tunnels/, taken apart; the segments are not validated yet. */
export interface TunnelPath {
  endpoint: TunnelEndpoint;
  /** The tunnel name segment as sent (check it with TUNNEL_NAME_PATTERN). */
  name: string;
  /** With `respond`: the request id segment as sent (check it with REQUEST_ID_PATTERN). */
  requestId?: string;
}

/** The endpoint each suffix names (respond's is told apart by the request id segment after it). */
const ENDPOINT_BY_SUFFIX: ReadonlyMap<string, TunnelEndpoint> = new Map(
  (Object.keys(TUNNEL_ENDPOINT_SUFFIX) as TunnelEndpoint[])
    .filter((endpoint) => endpoint !== 'respond')
    .map((endpoint) => [TUNNEL_ENDPOINT_SUFFIX[endpoint], endpoint]),
);

const escapeForRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A path segment: anything but `/` and `?`. */
const SEGMENT = '([^/?]+)';

/** The suffixes that end a path on their own (all but release's empty one and respond's). */
const PLAIN_SUFFIXES = [...ENDPOINT_BY_SUFFIX.keys()]
  .filter((suffix) => suffix !== '')
  .map(escapeForRegExp)
  .join('|');

/**
 * `/_standin/v1/tunnels/<name>[<suffix>][/]`, then an optional query. Built from
 * TUNNEL_ENDPOINT_SUFFIX, so every path PATHS builds is matched.
 */
const TUNNEL_PATH_PATTERN = new RegExp(
  `^${escapeForRegExp(TUNNELS_PATH)}/${SEGMENT}(?:${escapeForRegExp(TUNNEL_ENDPOINT_SUFFIX.respond)}/${SEGMENT}|(${PLAIN_SUFFIXES}))?/?(?:\\?.*)?$`,
);

/** Takes a request URL apart into the tunnel endpoint it names, or undefined when it names none. */
export function parseTunnelPath(url: string): TunnelPath | undefined {
  const match = TUNNEL_PATH_PATTERN.exec(url);
  if (!match) return undefined;
  const [, name, requestId, suffix] = match;
  if (requestId !== undefined) return { endpoint: 'respond', name, requestId };
  return { endpoint: ENDPOINT_BY_SUFFIX.get(suffix ?? '') ?? 'release', name };
}

/** Whether a request URL is the registration path (its query aside). */
export function isRegisterPath(url: string): boolean {
  return url.split('?')[0] === TUNNELS_PATH;
}

/** Prefix of the select endpoint, which a browser reaches through the site's own host. */
export const SELECT_PREFIX = '/_standin/select/';

/** `/_standin/select/none` clears the selection, so no tunnel may be called "none". */
export const NO_TUNNEL_NAME = 'none';

/** Tunnel names are DNS labels so that they also work as host selectors (`<name>.<domain>`). */
export const TUNNEL_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Request ids are uuid v4, lower case. */
export const REQUEST_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
