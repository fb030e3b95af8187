/**
 * `standin connect` options -> ClientConfig. Every flag also reads STANDIN_<FLAG> (yargs `.env`
 * is set once in bin/standin.ts); this is the only client file that sees argv or the environment.
 */

import fs from 'node:fs';
import os from 'node:os';
import type { Argv } from 'yargs';
import { durationError, parseDurationMs } from '#shared/duration';
import { ConfigError } from '#shared/errors';
import { DEFAULT_LOG_LEVEL, defaultLogFormat, LOG_LEVELS, type LogFormat, type LogLevel } from '#shared/logger';
import { TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';
import { parseUrlFlag } from '#shared/url-flag';

/** The client's settings, resolved once at start. */
export interface ClientConfig {
  /** Origin of the local app, e.g. http://localhost:3000. */
  target: URL;
  server: URL;
  token: string | null;
  /** Explicit --name, or undefined to use the remembered/derived one. */
  name: string | undefined;
  /** Explicit --port, or undefined to use the remembered one. */
  port: number | undefined;
  concurrency: number;
  preserveHost: boolean;
  /** Requested tunnel lifetime (--ttl), or undefined for the server's --max-ttl. */
  ttlMs: number | undefined;
  /** Register again when the tunnel expires, instead of exiting (--renew). */
  renew: boolean;
  /** Path the client GETs for health probes (non-5xx passes); without it, a TCP connect is the check. */
  healthPath: string | undefined;
  /** Reconnect after a lost connection (false with --no-reconnect: exit instead). */
  reconnect: boolean;
  /** Cap of the reconnect backoff, ms. */
  maxReconnectDelayMs: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** --log-file: NDJSON request log, or null. */
  logFile: string | null;
  /** --quiet: no line per request on stdout. */
  quiet: boolean;
  /** ANSI colours on the terminal: only when stdout is a TTY and NO_COLOR (no-color.org) is unset. */
  colors: boolean;
  /** --inspect: first port to try for the inspector (0 = any free port), or null with --no-inspect. */
  inspectPort: number | null;
  /** --private: serve only browsers that opened the access link. */
  private: boolean;
  /** --log-query: keep query strings in the terminal lines and --log-file. */
  logQuery: boolean;
  /** --log-header: more request headers to log, lower case. */
  logHeaders: readonly string[];
  /** The token came as a command-line flag (visible in `ps`): main.ts warns. */
  tokenOnCommandLine: boolean;
  /** --cluster-proxy: port of the forward proxy on 127.0.0.1 for the app's calls into the cluster (0 = any free port), or null when off. */
  clusterProxyPort: number | null;
}

/** Declares the options of `standin connect <target>`. */
export function clientOptions<T>(yargs: Argv<T>) {
  return (
    yargs
      .positional('target', {
        type: 'string',
        demandOption: true,
        description: 'Local app: a port (3000) or a URL (http://localhost:3000)',
      })
      .option('server', { type: 'string', demandOption: true, description: 'URL of the standin server, from your platform team' })
      .option('token', {
        type: 'string',
        description: 'Token of the standin server (prefer STANDIN_TOKEN or --token-file: flags show in ps)',
        defaultDescription: 'none',
      })
      .option('token-file', { type: 'string', description: 'Read the token of the standin server from this file' })
      .option('log-query', {
        type: 'boolean',
        default: false,
        description: 'Keep query strings in request lines and --log-file (left out by default: they often carry secrets)',
      })
      .option('log-header', {
        type: 'string',
        array: true,
        description: 'Also log this request header (repeatable); X-Request-Id, X-Correlation-Id and traceparent always are',
      })
      .option('name', { type: 'string', description: 'Tunnel name, a DNS label', defaultDescription: 'user-host-port, remembered' })
      .option('port', { type: 'number', description: 'Preferred public port', defaultDescription: 'the port this name had last time' })
      .option('concurrency', { type: 'number', default: 8, description: 'Polls kept open: requests served in parallel' })
      .option('preserve-host', {
        type: 'boolean',
        default: false,
        description: "Send the browser's Host header to the app instead of the target's",
      })
      .option('ttl', {
        type: 'string',
        description: 'Ask for a shorter tunnel life than the server allows, like 2h',
        defaultDescription: "the server's --max-ttl",
      })
      .option('renew', { type: 'boolean', default: false, description: 'When the tunnel expires, register it again instead of exiting' })
      .option('health-path', {
        type: 'string',
        description: 'Health probes GET this path of the app and pass on a non-5xx answer',
        defaultDescription: 'none: probes check that the app accepts TCP connections',
      })
      .option('reconnect', {
        type: 'boolean',
        default: true,
        description: 'Reconnect with backoff when the connection to the server is lost (--no-reconnect: exit 1 instead)',
      })
      .option('max-reconnect-delay', { type: 'number', default: 64, description: 'Longest wait between reconnect attempts, seconds' })
      .option('log-format', {
        choices: ['json', 'pretty'] as const,
        description: 'Log format',
        defaultDescription: 'pretty on a terminal, else json',
      })
      .option('log-level', { choices: LOG_LEVELS, default: DEFAULT_LOG_LEVEL, description: 'Log level' })
      .option('log-file', { type: 'string', description: 'Append one JSON line per request to this file' })
      .option('quiet', { type: 'boolean', default: false, description: 'No line per request on the terminal' })
      .option('private', {
        type: 'boolean',
        default: false,
        description: 'Serve only browsers that opened the access link this command prints',
      })
      .option('cluster-proxy', {
        type: 'number',
        description: "Port on 127.0.0.1 of an HTTP proxy that sends the app's calls (HTTP_PROXY) to in-cluster services through the server",
        defaultDescription: 'off',
      })
      // No yargs type: the option takes a port or false (--no-inspect, STANDIN_INSPECT=false). The
      // assertion widens the type yargs infers for argv.inspect to what it may really hold.
      .option('inspect', {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
        default: DEFAULT_INSPECT_PORT as number | boolean | string,
        description: 'Port of the request inspector on 127.0.0.1 (next free one if taken); --no-inspect turns it off',
      })
      .example('$0 connect 3000 --server https://standin.test.example.com', 'forward to http://localhost:3000')
      .example(
        'STANDIN_SERVER=https://standin.test.example.com $0 connect https://localhost:5173 --name alice-shop',
        'a Vite dev server over https, under a chosen name',
      )
  );
}

/** The inspector's port unless --inspect says otherwise (docs/design.md "Request inspector"). */
export const DEFAULT_INSPECT_PORT = 4040;

/** The parsed argv of `standin connect`. */
export type ClientArgv = Awaited<ReturnType<typeof clientOptions>['argv']>;

/** Checks the parsed options and resolves them into a frozen ClientConfig, or throws ConfigError. */
export function toClientConfig(argv: ClientArgv, commandLine: readonly string[] = process.argv.slice(2)): ClientConfig {
  if (!argv.server) throw new ConfigError('--server is required (or set STANDIN_SERVER), e.g. --server https://standin.test.example.com');
  if (argv.name !== undefined && !TUNNEL_NAME_PATTERN.test(argv.name)) {
    throw new ConfigError(`--name "${argv.name}" is not a DNS label: use 1-63 of a-z, 0-9 and "-", not starting or ending with "-"`);
  }
  if (argv.port !== undefined && (!Number.isInteger(argv.port) || argv.port < 1 || argv.port > 65535)) {
    throw new ConfigError('--port must be a port from 1 to 65535');
  }
  if (!Number.isInteger(argv.concurrency) || argv.concurrency < 1 || argv.concurrency > 256) {
    throw new ConfigError('--concurrency must be a whole number from 1 to 256');
  }
  const maxReconnectDelay = argv['max-reconnect-delay'];
  if (typeof maxReconnectDelay !== 'number' || !Number.isFinite(maxReconnectDelay) || maxReconnectDelay < 1 || maxReconnectDelay > 3600) {
    throw new ConfigError('--max-reconnect-delay must be a number of seconds from 1 to 3600');
  }
  return Object.freeze({
    target: parseTarget(String(argv.target)),
    server: parseServerUrl(argv.server),
    token: readClientToken(argv.token, argv['token-file']),
    name: argv.name,
    port: argv.port,
    concurrency: argv.concurrency,
    preserveHost: argv['preserve-host'],
    ttlMs: ttlOption(argv.ttl),
    renew: argv.renew,
    healthPath: healthPathOption(argv['health-path']),
    reconnect: argv.reconnect,
    maxReconnectDelayMs: Math.round(maxReconnectDelay * 1000),
    logFormat: argv['log-format'] ?? defaultLogFormat(),
    logLevel: argv['log-level'],
    logFile: argv['log-file'] ? argv['log-file'] : null,
    quiet: argv.quiet,
    colors: process.stdout.isTTY === true && !process.env.NO_COLOR,
    inspectPort: parseInspectPort(argv.inspect),
    private: argv.private,
    logQuery: argv['log-query'],
    logHeaders: logHeadersOption(argv['log-header']),
    tokenOnCommandLine: argv.token !== undefined && commandLine.some((arg) => arg === '--token' || arg.startsWith('--token=')),
    clusterProxyPort: clusterProxyOption(argv['cluster-proxy']),
  });
}

function readClientToken(token: string | undefined, tokenFile: string | undefined): string | null {
  if (token && tokenFile) throw new ConfigError('give --token or --token-file, not both');
  if (!tokenFile) return token ? token : null;
  let text: string;
  try {
    text = fs.readFileSync(tokenFile, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`cannot read --token-file ${tokenFile}: ${(error as Error).message}`, { cause: error });
  }
  if (!text) throw new ConfigError(`--token-file ${tokenFile} is empty`);
  return text;
}

function logHeadersOption(names: readonly string[] | undefined): readonly string[] {
  const headers = (names ?? []).map((name) => String(name).trim().toLowerCase());
  for (const name of headers)
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/.test(name)) throw new ConfigError(`--log-header "${name}" is not a header name`);
  return Object.freeze(headers);
}

function ttlOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new ConfigError(durationError('ttl', text));
  if (ms < 1_000) throw new ConfigError(`--ttl "${text}" is shorter than 1s: ask for something like 30m or 2h`);
  return ms;
}

function healthPathOption(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!text.startsWith('/')) throw new ConfigError(`--health-path "${text}" must be a path starting with "/", like /healthz`);
  return text;
}

function clusterProxyOption(value: number | undefined): number | null {
  if (value === undefined) return null;
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new ConfigError('--cluster-proxy must be a port from 0 to 65535, like 3128');
  return value;
}

/** `--inspect <port>` → the port, `--no-inspect` / `false` → null. */
export function parseInspectPort(value: unknown): number | null {
  if (value === false || value === 'false') return null;
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`--inspect must be a port from 0 to 65535 (or --no-inspect), got ${JSON.stringify(value)}`);
  }
  return port;
}

/** `3000` → http://localhost:3000, `localhost:3000` → http://localhost:3000; a URL must be http(s). */
export function parseTarget(text: string): URL {
  if (/^\d+$/.test(text)) {
    const port = Number(text);
    if (port < 1 || port > 65535) throw new ConfigError(`target port ${text} is outside 1-65535`);
    return new URL(`http://localhost:${port}`);
  }
  // new URL("localhost:3000") "succeeds" with the scheme "localhost:", so a bare host:port is
  // recognised first and means http://.
  const hostAndPort = /^(\[[0-9a-f:.]+\]|[a-z0-9][a-z0-9.-]*):(\d{1,5})$/i.exec(text);
  let url: URL;
  try {
    url = new URL(hostAndPort ? `http://${text}` : text);
  } catch {
    throw new ConfigError(`target "${text}" is neither a port (3000) nor a URL (http://localhost:3000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`target "${text}" must be http:// or https://`);
  return new URL(url.origin);
}

function parseServerUrl(text: string): URL {
  return parseUrlFlag('server', text, 'https://standin.test.example.com');
}

/** The default tunnel name: user, host and target port, as a DNS label (`ada-laptop-3000`). */
export function deriveTunnelName(target: URL, user = os.userInfo().username, host = os.hostname()): string {
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  const label = `${user}-${host.split('.')[0]}-${port}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return label.slice(0, 63).replace(/-$/, '') || `tunnel-${port}`;
}
