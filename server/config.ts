/**
 * `standin server` options -> ServerConfig. Every flag also reads STANDIN_<FLAG> (yargs `.env`
 * is set once in bin/standin.ts); this is the only server file that sees argv or the environment.
 */

import fs from 'node:fs';
import net from 'node:net';
import type { Argv } from 'yargs';
import { durationError, parseDurationMs } from '#shared/duration';
import { ConfigError } from '#shared/errors';
import { DEFAULT_LOG_LEVEL, defaultLogFormat, LOG_LEVELS, type LogFormat, type LogLevel } from '#shared/logger';
import { MAX_HEAD_BYTES } from '#shared/protocol/limits';
import { parseUrlFlag } from '#shared/url-flag';
import { checkUrlTemplate, type PublicUrlSettings } from './selector/public-urls';
import { parseOutboundRules, type OutboundSettings } from './outbound/outbound-rules';
import { DEFAULT_TRUSTED_PROXIES, parseTrustedProxies, type TrustedProxies } from './http/trusted-proxies';

/** Bounds on the connections of every listener: the main port and the tunnel ports (http-listener.ts). */
export interface PublicPortLimits {
  /** Close a connection with no bytes either way for this long (the main port: at least a poll timeout and its grace). */
  idleTimeoutMs: number;
  /** A request head (slowloris) must arrive within this; Node answers 408 otherwise. A silent connection is closed after it. */
  headersTimeoutMs: number;
  /** Largest request head on every port; past it Node answers 431. */
  maxHeaderBytes: number;
  /** Open connections one source address may hold on each listener; 0: no cap. */
  maxConnectionsPerSource: number;
  /** Peers whose X-Forwarded-Host/-Proto are believed (--trust-proxy). */
  trustedProxies: TrustedProxies;
}

/** Default of --max-connections-per-source: far above what one browser opens (6 per host), and room for a busy cluster proxy. */
export const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 1000;

/** The server's settings, resolved once at start. */
export interface ServerConfig {
  listenPort: number;
  /** Address the main port and the tunnel ports listen on (--bind). */
  bindAddress: string;
  /** How browsers reach this server: the links handed to clients and shown on the dashboard. */
  publicUrls: PublicUrlSettings;
  /** Range of per-tunnel ports, or null when port mode is off (`--ports none`). */
  tunnelPorts: { from: number; to: number } | null;
  /** Bearer token clients must send, or null for an open server. */
  token: string | null;
  /** Bearer token for admin actions (stopping a tunnel), or null when they are disabled. */
  adminToken: string | null;
  maxTtlMs: number;
  /** How often every online tunnel gets a health probe. */
  healthIntervalMs: number;
  requestTimeoutMs: number;
  pollTimeoutMs: number;
  /** Browser requests that may wait per tunnel for a free poll; past it, 503 queue_full. */
  maxQueuedRequests: number;
  /** Open upgraded connections (WebSockets) per tunnel, handshakes included; past it, 503 upgrade_limit. */
  maxUpgradesPerTunnel: number;
  /** Origin of the in-cluster app that main-port traffic without a live selected tunnel goes to, or null. */
  fallback: URL | null;
  /** Browser requests per tunnel at once (queued, with the app, or streaming); past it, 503 queue_full. */
  maxInFlightRequests: number;
  /** Limits of the public tunnel ports. */
  publicPortLimits: PublicPortLimits;
  /** How long SIGTERM lets in-flight requests finish. */
  shutdownGraceMs: number;
  /** Which in-cluster destinations local apps may call through the server (docs/outbound.md). */
  outbound: OutboundSettings;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** --tokens-file: per-developer tokens (YAML), or null. */
  tokensFile: string | null;
  /** --oidc-issuer and friends, or null. */
  oidc: { issuer: string; audience: string; userClaim: string } | null;
  /** How long a name stays reserved for its holder after last use. */
  claimTtlMs: number;
  /** Who may read the status API, the dashboard and recent requests, and run "Test now". */
  statusAccess: StatusAccess;
  /** Tunnels one developer may have registered at once (tokens-file and OIDC users). */
  maxTunnelsPerUser: number;
  /** A stopped tunnel is forgotten (registry, status, health history) this long after it stopped. */
  forgetAfterMs: number;
  /** Log query strings (--log-query); off by default, as they often carry secrets. */
  logQuery: boolean;
  /** Extra request headers to log (--log-header), lower case, besides the trace headers. */
  logHeaders: readonly string[];
  /** Replica mode (--redis): several servers share their tunnels through Redis; null runs one process alone. */
  replication: ReplicationSettings | null;
}

/** How this server joins its replicas (docs/replicas.md). */
export interface ReplicationSettings {
  /** redis:// or rediss:// URL of the shared Redis. */
  redisUrl: string;
  /** Port of the pod-to-pod listener that carries bodies between replicas (0: any free one). */
  internalPort: number;
  /** host:port other replicas reach this one's internal listener at (--advertise, else $POD_IP); undefined: --bind (or the host name) and the bound internal port. */
  advertise: string | undefined;
  /** HMAC key that authenticates every pod-to-pod call. */
  clusterSecret: string;
}

/**
 * `open`: anyone may read status (owners and targets only with a credential); `token`: any client
 * credential; `admin`: only admins.
 */
export type StatusAccess = 'open' | 'token' | 'admin';

/** Declares the options of `standin server`. */
export function serverOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('listen', { type: 'number', default: 8080, description: 'Main port: client API, dashboard and routed tunnel traffic' })
    .option('bind', {
      type: 'string',
      default: '0.0.0.0',
      description: 'Address the main port and the tunnel ports listen on; 127.0.0.1 keeps a laptop demo private',
    })
    .option('site', {
      type: 'string',
      description: 'Origin of the test site whose proxy sends /_standin/select/ here; clients print <site>/_standin/select/<name>',
      defaultDescription: 'none: no select link',
    })
    .option('host-url', {
      type: 'string',
      description: 'Link of a tunnel by host, with {name}, like https://{name}.dev.example.test (wildcard DNS to this server)',
      defaultDescription: 'none: no host link',
    })
    .option('port-url', {
      type: 'string',
      description: "Link of a tunnel's own port, with {port}, like https://standin.example.test:{port}",
      defaultDescription: 'http://<host the client used>:{port}',
    })
    .option('ports', { type: 'string', default: '9000-9099', description: 'Range of per-tunnel ports, like 9000-9099, or "none"' })
    .option('token', {
      type: 'string',
      description: 'Clients must send "Authorization: Bearer <token>"',
      defaultDescription: 'none: an open server',
    })
    .option('token-file', { type: 'string', description: 'Read the client token from this file' })
    .option('admin-token', {
      type: 'string',
      description: 'Admin actions (stop a tunnel) need "Authorization: Bearer <admin token>"',
      defaultDescription: 'none: admin actions are disabled',
    })
    .option('max-ttl', { type: 'string', default: '12h', description: 'Longest life of a tunnel' })
    .option('request-timeout', {
      type: 'string',
      default: '60s',
      description: 'Answer 504 when the app has not sent a response head by then',
    })
    .option('poll-timeout', { type: 'string', default: '25s', description: 'How long an idle long-poll is held before it is answered 204' })
    .option('health-interval', {
      type: 'string',
      default: '60s',
      description: 'How often each tunnel gets a health probe through its client',
    })
    .option('max-queue', {
      type: 'number',
      default: 1000,
      description: 'Browser requests that may wait per tunnel for a free poll (then 503 queue_full)',
    })
    .option('max-upgrades', {
      type: 'number',
      default: 100,
      description: 'Open WebSocket/Upgrade connections per tunnel (then 503 upgrade_limit)',
    })
    .option('fallback', {
      type: 'string',
      description: 'Origin of the in-cluster app for main-port traffic that selects no live tunnel, like http://shop.default.svc:80',
      defaultDescription: 'none: such traffic gets 404 no_tunnel',
    })
    .option('max-in-flight', {
      type: 'number',
      default: 1000,
      description: 'Browser requests per tunnel at once, queued or being answered (then 503 queue_full)',
    })
    .option('idle-timeout', {
      type: 'string',
      default: '120s',
      description: 'Close a connection (main port or tunnel port) with no bytes either way for this long',
    })
    .option('headers-timeout', {
      type: 'string',
      default: '20s',
      description: 'A request head must arrive within this (then 408); a connection that sends nothing is closed after it',
    })
    .option('max-connections-per-source', {
      type: 'number',
      default: DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
      description:
        'Open connections one source address may hold on each port (more are refused); 0: no cap. A cluster proxy counts as one source',
    })
    .option('max-header-size', {
      type: 'number',
      default: MAX_HEAD_BYTES,
      description: 'Largest browser request head in bytes, on the tunnel ports and the main port alike (then 431)',
    })
    .option('trust-proxy', {
      type: 'string',
      array: true,
      default: [...DEFAULT_TRUSTED_PROXIES],
      description: 'Address ranges (CIDR) of proxies whose X-Forwarded-Host/-Proto are believed; "none" trusts no one',
    })
    .option('shutdown-grace', { type: 'string', default: '20s', description: 'On SIGTERM, how long in-flight requests may take to finish' })
    .option('outbound-allow', {
      type: 'string',
      array: true,
      description:
        'Destinations local apps may call through --cluster-proxy: host globs with an optional port, like *.svc.cluster.local api.internal:8080 (several after one flag, or comma-separated)',
      defaultDescription: 'none: no outbound calls',
    })
    .option('outbound-allow-private', {
      type: 'boolean',
      default: false,
      description: 'Let outbound calls reach private and loopback addresses (in-cluster Services live there); link-local stays refused',
    })
    .option('log-format', {
      choices: ['json', 'pretty'] as const,
      description: 'Log format',
      defaultDescription: 'pretty on a terminal, else json',
    })
    .option('log-level', { choices: LOG_LEVELS, default: DEFAULT_LOG_LEVEL, description: 'Log level' })
    .option('tokens-file', {
      type: 'string',
      description: 'Per-developer tokens: YAML "users: [{ name, tokenSha256, names?, admin? }]", re-read when it changes',
    })
    .option('oidc-issuer', {
      type: 'string',
      description: 'Accept bearer JWTs from this OpenID Connect issuer (verified against its JWKS)',
    })
    .option('oidc-audience', { type: 'string', description: 'The audience (aud) those JWTs must carry; required with --oidc-issuer' })
    .option('oidc-user-claim', { type: 'string', default: 'email', description: 'The JWT claim that names the developer' })
    .option('claim-ttl', {
      type: 'string',
      default: '30d',
      description: 'A tunnel name stays reserved for its holder this long after last use',
    })
    .option('status-access', {
      choices: ['open', 'token', 'admin'] as const,
      description: 'Who may read the status API and dashboard and run "Test now"',
      defaultDescription: 'token when clients must authenticate, else open',
    })
    .option('max-tunnels-per-user', {
      type: 'number',
      default: 10,
      description: 'Tunnels one developer (tokens file or OIDC) may hold at once (then 429 too_many_tunnels)',
    })
    .option('forget-after', { type: 'string', default: '24h', description: 'Forget a stopped tunnel this long after it stopped' })
    .option('log-query', {
      type: 'boolean',
      default: false,
      description: 'Log query strings (they often carry secrets, so they are left out by default)',
    })
    .option('redis', {
      type: 'string',
      description: 'Run as one of several replicas sharing their tunnels through this Redis (redis:// or rediss://)',
      defaultDescription: 'none: one process with in-memory state',
    })
    .option('internal-listen', {
      type: 'number',
      default: 8081,
      description: 'With --redis: pod-to-pod port that carries bodies between replicas',
    })
    .option('advertise', {
      type: 'string',
      description: 'With --redis: host:port the other replicas reach this one at',
      defaultDescription: '$POD_IP:<internal-listen>',
    })
    .option('cluster-secret', { type: 'string', description: 'With --redis: shared key that authenticates pod-to-pod calls' })
    .option('cluster-secret-file', { type: 'string', description: 'With --redis: read the cluster secret from this file' })
    .option('log-header', {
      type: 'string',
      array: true,
      description: 'Also log this request header (repeatable); X-Request-Id, X-Correlation-Id and traceparent always are',
    })
    .example(
      '$0 server --token-file /run/secrets/token --fallback http://shop.default.svc.cluster.local:80',
      'in the cluster, in front of the shop app',
    )
    .example('$0 server --bind 127.0.0.1 --listen 8080 --ports 9000-9009', 'on a laptop, for a demo');
}

/** The parsed argv of `standin server`. */
export type ServerArgv = Awaited<ReturnType<typeof serverOptions>['argv']>;

/** Checks the parsed options and resolves them into a frozen ServerConfig, or throws ConfigError. */
export function toServerConfig(argv: ServerArgv): ServerConfig {
  const pollTimeoutMs = durationOption(argv['poll-timeout'], 'poll-timeout');
  if (pollTimeoutMs < 100) throw new ConfigError('--poll-timeout must be at least 100ms');
  return Object.freeze({
    listenPort: portOption(argv.listen, 'listen'),
    bindAddress: bindOption(argv.bind),
    publicUrls: Object.freeze({
      site: argv.site ? parseSiteUrl(argv.site) : null,
      hostUrlTemplate: argv['host-url']
        ? urlTemplateOption(argv['host-url'], 'host-url', '{name}', 'https://{name}.dev.example.test')
        : null,
      portUrlTemplate: argv['port-url']
        ? urlTemplateOption(argv['port-url'], 'port-url', '{port}', 'https://standin.example.test:{port}')
        : null,
    }),
    tunnelPorts: parsePortRange(argv.ports),
    token: readToken(argv.token, argv['token-file']),
    adminToken: argv['admin-token'] ? argv['admin-token'] : null,
    maxTtlMs: durationOption(argv['max-ttl'], 'max-ttl'),
    healthIntervalMs: healthIntervalOption(argv['health-interval']),
    requestTimeoutMs: durationOption(argv['request-timeout'], 'request-timeout'),
    pollTimeoutMs,
    maxQueuedRequests: positiveInteger(argv['max-queue'], 'max-queue'),
    maxUpgradesPerTunnel: positiveInteger(argv['max-upgrades'], 'max-upgrades'),
    fallback: argv.fallback ? parseFallbackUrl(argv.fallback) : null,
    maxInFlightRequests: positiveInteger(argv['max-in-flight'], 'max-in-flight'),
    publicPortLimits: Object.freeze({
      idleTimeoutMs: durationOption(argv['idle-timeout'], 'idle-timeout'),
      headersTimeoutMs: durationOption(argv['headers-timeout'], 'headers-timeout'),
      maxHeaderBytes: headerSizeOption(argv['max-header-size']),
      maxConnectionsPerSource: nonNegativeInteger(argv['max-connections-per-source'], 'max-connections-per-source'),
      trustedProxies: parseTrustedProxies(argv['trust-proxy']),
    }),
    shutdownGraceMs: durationOption(argv['shutdown-grace'], 'shutdown-grace'),
    outbound: Object.freeze({ rules: parseOutboundRules(argv['outbound-allow'] ?? []), allowPrivate: argv['outbound-allow-private'] }),
    logFormat: argv['log-format'] ?? defaultLogFormat(),
    logLevel: argv['log-level'],
    tokensFile: tokensFileOption(argv['tokens-file']),
    oidc: oidcOption(argv['oidc-issuer'], argv['oidc-audience'], argv['oidc-user-claim']),
    claimTtlMs: durationOption(argv['claim-ttl'], 'claim-ttl'),
    statusAccess:
      argv['status-access'] ?? (argv.token || argv['token-file'] || argv['tokens-file'] || argv['oidc-issuer'] ? 'token' : 'open'),
    maxTunnelsPerUser: positiveInteger(argv['max-tunnels-per-user'], 'max-tunnels-per-user'),
    forgetAfterMs: durationOption(argv['forget-after'], 'forget-after'),
    logQuery: argv['log-query'],
    logHeaders: logHeadersOption(argv['log-header']),
    replication: replicationOption(argv),
  });
}

/** --redis and its companions; they mean nothing without --redis, so they are refused alone. */
function replicationOption(argv: ServerArgv): ReplicationSettings | null {
  const secretFlags = argv['cluster-secret'] !== undefined || argv['cluster-secret-file'] !== undefined;
  if (!argv.redis) {
    if (argv.advertise !== undefined || secretFlags)
      throw new ConfigError('--advertise and --cluster-secret only mean something with --redis');
    return null;
  }
  let url: URL;
  try {
    url = new URL(argv.redis);
  } catch {
    throw new ConfigError(`--redis "${argv.redis}" is not a URL like redis://redis:6379`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ConfigError('--redis must be a redis:// or rediss:// URL');
  const clusterSecret = readSecret(argv['cluster-secret'], argv['cluster-secret-file']);
  if (!clusterSecret)
    throw new ConfigError(
      '--redis needs --cluster-secret or --cluster-secret-file: the replicas authenticate their pod-to-pod calls with it',
    );
  // Short secrets are guessable by whoever can reach the internal port.
  if (clusterSecret.length < 16) throw new ConfigError('--cluster-secret must be at least 16 characters');
  if (argv.advertise !== undefined && !/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(argv.advertise)) {
    throw new ConfigError(`--advertise "${argv.advertise}" is not host:port like 10.1.2.3:8081`);
  }
  const internalPort = portOption(argv['internal-listen'], 'internal-listen');
  // In Kubernetes the pod's IP comes from the downward API (k8s/ha sets POD_IP).
  const podIp = process.env.POD_IP;
  const advertise = argv.advertise ?? (podIp ? `${podIp.includes(':') ? `[${podIp}]` : podIp}:${internalPort}` : undefined);
  return Object.freeze({ redisUrl: argv.redis, internalPort, advertise, clusterSecret });
}

function tokensFileOption(file: string | undefined): string | null {
  if (!file) return null;
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (error) {
    throw new ConfigError(`cannot read --tokens-file ${file}: ${(error as Error).message}`, { cause: error });
  }
  return file;
}

function oidcOption(issuer: string | undefined, audience: string | undefined, userClaim: string): ServerConfig['oidc'] {
  if (!issuer) {
    if (audience) throw new ConfigError('--oidc-audience needs --oidc-issuer');
    return null;
  }
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new ConfigError(`--oidc-issuer "${issuer}" is not a URL like https://login.example.com/realms/dev`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('--oidc-issuer must be an https:// URL');
  // Without an audience any token of the issuer (for any app) would do.
  if (!audience) throw new ConfigError('--oidc-issuer needs --oidc-audience: the aud your standin tokens carry');
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(userClaim)) throw new ConfigError(`--oidc-user-claim "${userClaim}" is not a claim name`);
  return Object.freeze({ issuer, audience, userClaim });
}

function logHeadersOption(names: readonly string[] | undefined): readonly string[] {
  const headers = (names ?? []).map((name) => String(name).trim().toLowerCase());
  for (const name of headers)
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/.test(name)) throw new ConfigError(`--log-header "${name}" is not a header name`);
  return Object.freeze(headers);
}

/** Parses `9000-9099` (or a single port, or `none`). */
export function parsePortRange(text: string): { from: number; to: number } | null {
  if (text.trim().toLowerCase() === 'none') return null;
  const match = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(text);
  if (!match) throw new ConfigError(`--ports "${text}" is not a range like 9000-9099 or "none"`);
  const from = Number(match[1]);
  const to = Number(match[2] ?? match[1]);
  if (from < 1 || to > 65535 || from > to) throw new ConfigError(`--ports "${text}" is empty or outside 1-65535`);
  return { from, to };
}

/**
 * Parses --fallback: an http(s) origin. The browser's path is kept as it is, so a path here
 * would be ambiguous (prefix or replacement?) and is refused, as are credentials and a query.
 */
export function parseFallbackUrl(text: string): URL {
  const url = parseUrlFlag('fallback', text, 'http://shop.default.svc.cluster.local:80');
  if (url.username || url.password) throw new ConfigError('--fallback must not carry credentials');
  if (url.pathname !== '/' || url.search || url.hash) {
    throw new ConfigError(
      `--fallback must be an origin like ${url.origin}: the browser's path is kept, so a path, query or fragment cannot be added`,
    );
  }
  return url;
}

/** --site: the test site's origin (a path would be dropped, so it is refused). */
function parseSiteUrl(text: string): URL {
  const url = parseUrlFlag('site', text, 'https://www.example.test');
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash)
    throw new ConfigError(`--site must be an origin like ${url.origin}`);
  return url;
}

function urlTemplateOption(text: string, flag: string, placeholder: '{name}' | '{port}', example: string): string {
  const problem = checkUrlTemplate(text, placeholder, example);
  if (problem) throw new ConfigError(`--${flag} "${text}" ${problem}`);
  return text;
}

function bindOption(text: string): string {
  if (net.isIP(text) === 0) throw new ConfigError(`--bind "${text}" is not an IP address like 0.0.0.0, :: or 127.0.0.1`);
  return text;
}

function readToken(token: string | undefined, tokenFile: string | undefined): string | null {
  return readSecret(token, tokenFile, 'token');
}

/** A secret given inline (--<flag>) or in a file (--<flag>-file), not both. */
function readSecret(inline: string | undefined, file: string | undefined, flag = 'cluster-secret'): string | null {
  if (inline !== undefined && file !== undefined) throw new ConfigError(`give --${flag} or --${flag}-file, not both`);
  if (file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`cannot read --${flag}-file ${file}: ${(error as Error).message}`, { cause: error });
    }
    if (!text) throw new ConfigError(`--${flag}-file ${file} is empty`);
    return text;
  }
  return inline ? inline : null;
}

function durationOption(text: string, flag: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) throw new ConfigError(durationError(flag, text));
  return ms;
}

function healthIntervalOption(text: string): number {
  const ms = durationOption(text, 'health-interval');
  // Each check is a round trip through the client; faster than this is a load test, not a health check.
  if (ms < 200) throw new ConfigError('--health-interval must be at least 200ms');
  return ms;
}

function portOption(value: number, flag: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new ConfigError(`--${flag} must be a port from 0 to 65535`);
  return value;
}

function headerSizeOption(value: number): number {
  if (!Number.isInteger(value) || value < 1024 || value > 1024 * 1024)
    throw new ConfigError('--max-header-size must be a number of bytes from 1024 to 1048576');
  return value;
}

function nonNegativeInteger(value: number, flag: string): number {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`--${flag} must be a whole number, 0 or more`);
  return value;
}

function positiveInteger(value: number, flag: string): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`--${flag} must be a whole number above 0`);
  return value;
}
