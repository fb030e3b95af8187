/**
 * The programmatic API, the package's main entry: `import { connect } from 'standin'`.
 *
 *   const tunnel = await connect({ target: 3000, server: 'https://standin.test.example.com' });
 *   tunnel.on('request', (request) => console.log(request.method, request.path, request.status));
 *   console.log(tunnel.name, tunnel.urls.port);
 *   await tunnel.close();
 *
 * It runs the same tunnel as `standin connect` (client/session/live-tunnel.ts) with the same options and
 * checks (client/cli/connect-args.ts), but prints nothing but warnings (to stderr) unless asked, and
 * starts no inspector unless `inspect` is given.
 */

import { EventEmitter } from 'node:events';
import { ConfigError, StandinError } from '#shared/errors';
import { createLogger, type LogFormat, type LogLevel } from '#shared/logger';
import { configFromOptions } from './cli/connect-args';
import { deriveTunnelName } from './cli/config';
import { startTunnel, type LiveTunnel, type TunnelUrls } from './session/live-tunnel';
import type { RequestRecord } from './inspector/request-capture';
import { Terminal } from './cli/terminal';
import type { TunnelEnd } from './session/tunnel-run';

export { AuthRefusedError, ConfigError, ProtocolMismatchError, SessionEndedError, StandinError, TunnelClosedError } from '#shared/errors';
/** The first name of StandinError (the same class), so `instanceof TunnelError` in existing scripts keeps working. */
export { StandinError as TunnelError } from '#shared/errors';
export type { RequestRecord as TunnelRequest } from './inspector/request-capture';
export type { TunnelEnd } from './session/tunnel-run';
export type { TunnelUrls } from './session/live-tunnel';

/** Options of connect(): the flags of `standin connect`, camelCased. */
export interface ConnectOptions {
  /** The local app: a port (3000) or a URL (http://localhost:3000). */
  target: number | string;
  /** URL of the standin server. */
  server: string | URL;
  token?: string;
  /** Tunnel name, a DNS label; default user-host-port, as the CLI. */
  name?: string;
  /** Preferred public port. */
  port?: number;
  /** Polls kept open: requests served in parallel (default 8). */
  concurrency?: number;
  preserveHost?: boolean;
  /** A shorter tunnel life than the server allows, like '2h'. */
  ttl?: string;
  renew?: boolean;
  healthPath?: string;
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  /** Longest wait between reconnect attempts, seconds (default 64). */
  maxReconnectDelay?: number;
  /** Log lines go to stderr; default 'warn' (pass 'info' to log each request too). */
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  /** Append one JSON line per request to this file. */
  logFile?: string;
  /** Port of a request inspector on 127.0.0.1 (0: any free one); default none. */
  inspect?: number | false;
}

/** Events of a Tunnel. */
export interface TunnelEvents {
  /** A request finished (the browser got its answer), with its ids, heads, timings and status. */
  request: [request: RequestRecord];
  /** The tunnel stopped: `error` says why when it was not close() (expired, stopped by an admin, …). */
  close: [error: StandinError | undefined];
}

/** A live tunnel. */
export class Tunnel extends EventEmitter<TunnelEvents> {
  /** Resolves once the tunnel stopped, however it stopped. */
  readonly closed: Promise<TunnelEnd>;

  /** @internal connect() makes tunnels. */
  constructor(private readonly live: LiveTunnel) {
    super();
    live.onRequest((record) => this.emit('request', record));
    this.closed = live.ended.then((end) => {
      this.emit('close', end.kind === 'stopped' ? undefined : asStandinError(end));
      return end;
    });
  }

  get name(): string {
    return this.live.name;
  }

  /** Where browsers reach it. */
  get urls(): TunnelUrls {
    return this.live.urls;
  }

  /** ISO time the tunnel expires (moves on with --renew). */
  get expiresAt(): string {
    return this.live.registered.expiresAt;
  }

  /** The inspector's URL when `inspect` was given and it listens. */
  get inspectorUrl(): string | null {
    return this.live.inspectorUrl;
  }

  /** Releases the tunnel; requests already with the app finish first (briefly). */
  async close(): Promise<void> {
    await this.live.close();
  }
}

/**
 * Registers a tunnel and resolves once it is live. Rejects with ConfigError (code config_error),
 * AuthRefusedError (unauthorized), ProtocolMismatchError (protocol_mismatch), TunnelClosedError
 * (closed: `signal` aborted first) or a StandinError with the server's code (e.g. name_taken).
 */
export async function connect(options: ConnectOptions & { signal?: AbortSignal }): Promise<Tunnel> {
  if (typeof options !== 'object' || options === null) throw new ConfigError('connect() takes an options object: { target, server, … }');
  const { signal, server, inspect, logLevel, logFormat, ...flags } = options;
  const config = configFromOptions({
    ...flags,
    server: server instanceof URL ? server.href : server,
    inspect: inspect ?? false,
    logLevel: logLevel ?? 'warn',
    logFormat: logFormat ?? 'json',
  });
  // stderr: a script's stdout stays its own.
  const logger = createLogger({ format: config.logFormat, level: config.logLevel, stream: process.stderr });
  const terminal = new Terminal(config.name ?? deriveTunnelName(config.target), logger, false, process.stderr, config.quiet);
  return new Tunnel(await startTunnel({ config, logger, terminal, signal }));
}

function asStandinError(end: Exclude<TunnelEnd, { kind: 'stopped' }>): StandinError {
  return end.error instanceof StandinError ? end.error : new StandinError('connection_lost', end.error.message, { cause: end.error });
}
