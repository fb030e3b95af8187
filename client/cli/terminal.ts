/**
 * What the developer sees: a prominent block when the tunnel is up, then one line per request.
 * With --log-format json the same facts go out as log lines, for scripts and tests.
 */

import type { Logger } from '#shared/logger';
import { loggedPath } from '#shared/trace-fields';
import type { PublicUrls, RegisterResponse } from '#shared/protocol/messages';

/** Facts about one finished request, for its terminal line. */
export interface RequestLine {
  requestId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  error?: string;
  outcome?: string;
  /** Fields from trace headers (traceparent, X-*-Id), logged with the line. */
  trace?: Record<string, string>;
  /** Set on a request replayed from the inspector: the id it repeats. */
  replayOf?: string;
  /** Set on an outbound call (the app called the cluster through --cluster-proxy); `path` is its URL. */
  outbound?: true;
}

const ANSI_COLORS = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  red: '\x1b[31m',
  cyan: '\x1b[36m',
};
/** The same keys with no escape codes: for files, pipes and NO_COLOR. */
const NO_COLORS: typeof ANSI_COLORS = { reset: '', bold: '', dim: '', green: '', yellow: '', red: '', cyan: '' };

export class Terminal {
  constructor(
    private readonly tunnel: string,
    private readonly logger: Logger,
    private readonly pretty: boolean,
    private readonly out: NodeJS.WritableStream = process.stdout,
    /** --quiet: no line per request. */
    private readonly quiet = false,
    /** ANSI colours: only on a terminal, so files and pipes get plain text. */
    colors = false,
    /** Starts every pretty line, so several tunnels can share one terminal (`standin up`: "[shop] "). */
    private readonly label = '',
  ) {
    this.color = colors ? ANSI_COLORS : NO_COLORS;
  }

  private readonly color: typeof ANSI_COLORS;

  /** Announces the live tunnel: name, public URL(s), how to select it, expiry. */
  tunnelReady(server: URL, target: URL, registered: RegisterResponse, inspectorUrl: string | null = null): void {
    const urls = linksOf(server, registered);
    // A private tunnel serves only browsers that opened this link (it sets a signed cookie); with
    // the server's --site it is a whole URL on the test site, else a path to open there.
    const accessLink = registered.accessKey ? `${urls.select ?? `/_standin/select/${registered.name}`}?key=${registered.accessKey}` : null;
    if (!this.pretty) {
      this.logger.info('tunnel ready', {
        tunnel: registered.name,
        publicUrl: urls.port ?? null,
        urls,
        port: registered.port,
        target: target.origin,
        expiresAt: registered.expiresAt,
        inspectorUrl,
        ...(accessLink ? { accessLink } : {}),
      });
      return;
    }
    const { bold, cyan, dim, reset } = this.color;
    const lines = [
      '',
      `${bold}standin${reset}  ${bold}${registered.name}${reset} is live, forwarding to ${target.origin}`,
      '',
      // Only links the server vouched for: a guessed http://<server>:<port>/ is unreachable
      // behind an ingress that publishes only /_standin.
      urls.port ? `  Port URL          ${cyan}${urls.port}${reset}` : null,
      urls.host ? `  Host URL          ${cyan}${urls.host}${reset}` : null,
      urls.select
        ? `  Select by cookie  ${cyan}${urls.select}${reset}`
        : // Without --site the server does not know the site's host; the cookie must be set
          // there (the server's own host would set it for the wrong site), so say where.
          `  Select by cookie  open ${cyan}/_standin/select/${registered.name}${reset} on the test site`,
      `  Select by header  X-Standin-Tunnel: ${registered.name}`,
      ...(accessLink
        ? [`  Private           only browsers that open ${cyan}${accessLink}${reset} on the test site (share it with care)`]
        : []),
      `  Expires           ${new Date(registered.expiresAt).toLocaleString()}`,
      inspectorUrl ? `  Inspector         ${cyan}${inspectorUrl}${reset}` : `  Inspector         ${dim}off${reset}`,
      '',
      `${dim}  Ctrl-C releases the tunnel.${reset}`,
      '',
    ];
    this.out.write(
      lines
        .filter((line) => line !== null)
        .map((line) => (line && this.label ? this.label + line : line))
        .join('\n') + '\n',
    );
  }

  /** Says where the cluster proxy (--cluster-proxy) listens and how to point the app at it. */
  clusterProxyReady(url: string): void {
    if (!this.pretty) {
      this.logger.info('cluster proxy ready', { tunnel: this.tunnel, url, env: `HTTP_PROXY=${url}` });
      return;
    }
    const { cyan, dim, reset } = this.color;
    this.out.write(
      `${this.label}  Cluster proxy     ${cyan}${url}${reset}  ${dim}start your app with HTTP_PROXY=${url} (Node: also NODE_USE_ENV_PROXY=1)${reset}\n\n`,
    );
  }

  /** One line per finished request. */
  request(line: RequestLine): void {
    // Skipped before any work: this runs once per request on the data path.
    if (this.quiet || (!this.pretty && !this.logger.isInfoEnabled())) return;
    const fields = {
      ...line.trace,
      requestId: line.requestId,
      tunnel: this.tunnel,
      method: line.method,
      path: loggedPath(line.path),
      status: line.status,
      durationMs: Math.round(line.durationMs * 10) / 10,
      ...(line.error ? { error: line.error } : {}),
      ...(line.outcome ? { outcome: line.outcome } : {}),
      ...(line.replayOf ? { replayOf: line.replayOf } : {}),
      ...(line.outbound ? { outbound: true } : {}),
    };
    if (!this.pretty) {
      this.logger.info('request', fields);
      return;
    }
    const COLOR = this.color;
    const color = line.status >= 500 ? COLOR.red : line.status >= 400 ? COLOR.yellow : COLOR.green;
    const time = new Date().toTimeString().slice(0, 8);
    const error = line.error
      ? `  ${COLOR.red}${line.error}${COLOR.reset}`
      : line.outcome
        ? `  ${COLOR.dim}${line.outcome}${COLOR.reset}`
        : '';
    const outbound = line.outbound ? `${COLOR.cyan}→ ${COLOR.reset}` : '';
    // A replay from the inspector never came from a browser: say so, and which request it repeats.
    const replay = line.replayOf ? `  ${COLOR.cyan}replay of ${line.replayOf.slice(0, 8)}${COLOR.reset}` : '';
    this.out.write(
      `${this.label}${COLOR.dim}${time} ${line.requestId.slice(0, 8)}${COLOR.reset} ${line.method.padEnd(6)} ${color}${line.status}${COLOR.reset} ${outbound}${fields.path}  ${COLOR.dim}${fields.durationMs} ms${COLOR.reset}${error}${replay}\n`,
    );
  }
}

/**
 * The registration's links; a server too old to send them gets the old guess, the port on the
 * server's host, which is right when the client reaches the server directly (a laptop demo).
 */
function linksOf(server: URL, registered: RegisterResponse): PublicUrls {
  if (registered.urls) return registered.urls;
  return registered.port === null ? {} : { port: `http://${server.hostname}:${registered.port}/` };
}
