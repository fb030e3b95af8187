/**
 * What the developer sees: a prominent block when the tunnel is up, then one line per request.
 * With --log-format json the same facts go out as log lines, for scripts and tests.
 */

import type { Logger } from '../shared/logger';
import { loggedPath } from '../shared/trace-fields';
import type { RegisterResponse } from '../shared/protocol';

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

const COLOR = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', green: '\x1b[32m', yellow: '\x1b[33m', red: '\x1b[31m', cyan: '\x1b[36m' };

export class Terminal {
  constructor(
    private readonly tunnel: string,
    private readonly logger: Logger,
    private readonly pretty: boolean,
    private readonly out: NodeJS.WritableStream = process.stdout,
    /** --quiet: no line per request. */
    private readonly quiet = false,
  ) {}

  /** Announces the live tunnel: name, public URL(s), how to select it, expiry. */
  tunnelReady(server: URL, target: URL, registered: RegisterResponse, inspectorUrl: string | null = null): void {
    const publicUrl = registered.port === null ? null : `http://${server.hostname}:${registered.port}/`;
    // A private tunnel serves only browsers that opened this link (it sets a signed cookie).
    const accessLink = registered.accessKey ? `/_standin/select/${registered.name}?key=${registered.accessKey}` : null;
    if (!this.pretty) {
      this.logger.info('tunnel ready', { tunnel: registered.name, publicUrl, port: registered.port, target: target.origin, expiresAt: registered.expiresAt, inspectorUrl, ...(accessLink ? { accessLink } : {}) });
      return;
    }
    const { bold, cyan, dim, reset } = COLOR;
    const lines = [
      '',
      `${bold}standin${reset}  ${bold}${registered.name}${reset} is live, forwarding to ${target.origin}`,
      '',
      publicUrl ? `  Public URL        ${cyan}${publicUrl}${reset}` : `  Public URL        ${dim}(this server has no per-tunnel ports)${reset}`,
      // The cookie must be set on the site's own host (whose route leads to standin's main
      // port), which only the developer knows; the server's host would set it for the wrong site.
      `  Select by cookie  open ${cyan}/_standin/select/${registered.name}${reset} on the test site`,
      `  Select by header  X-Standin-Tunnel: ${registered.name}`,
      ...(accessLink ? [`  Private           only browsers that open ${cyan}${accessLink}${reset} on the test site (share it with care)`] : []),
      `  Expires           ${new Date(registered.expiresAt).toLocaleString()}`,
      inspectorUrl ? `  Inspector         ${cyan}${inspectorUrl}${reset}` : `  Inspector         ${dim}off${reset}`,
      '',
      `${dim}  Ctrl-C releases the tunnel.${reset}`,
      '',
    ];
    this.out.write(lines.join('\n') + '\n');
  }

  /** Says where the cluster proxy (--cluster-proxy) listens and how to point the app at it. */
  clusterProxyReady(url: string): void {
    if (!this.pretty) {
      this.logger.info('cluster proxy ready', { tunnel: this.tunnel, url, env: `HTTP_PROXY=${url}` });
      return;
    }
    this.out.write(`  Cluster proxy     ${COLOR.cyan}${url}${COLOR.reset}  ${COLOR.dim}start your app with HTTP_PROXY=${url} (Node: also NODE_USE_ENV_PROXY=1)${COLOR.reset}\n\n`);
  }

  /** One line per finished request. */
  request(line: RequestLine): void {
    // Skipped before any work: this runs once per request on the data path.
    if (this.quiet || (!this.pretty && !this.logger.isInfoEnabled())) return;
    const fields = { ...line.trace, requestId: line.requestId, tunnel: this.tunnel, method: line.method, path: loggedPath(line.path), status: line.status, durationMs: Math.round(line.durationMs * 10) / 10, ...(line.error ? { error: line.error } : {}), ...(line.outcome ? { outcome: line.outcome } : {}), ...(line.replayOf ? { replayOf: line.replayOf } : {}), ...(line.outbound ? { outbound: true } : {}) };
    if (!this.pretty) {
      this.logger.info('request', fields);
      return;
    }
    const color = line.status >= 500 ? COLOR.red : line.status >= 400 ? COLOR.yellow : COLOR.green;
    const time = new Date().toTimeString().slice(0, 8);
    const error = line.error ? `  ${COLOR.red}${line.error}${COLOR.reset}` : line.outcome ? `  ${COLOR.dim}${line.outcome}${COLOR.reset}` : '';
    const outbound = line.outbound ? `${COLOR.cyan}→ ${COLOR.reset}` : '';
    this.out.write(
      `${COLOR.dim}${time} ${line.requestId.slice(0, 8)}${COLOR.reset} ${line.method.padEnd(6)} ${color}${line.status}${COLOR.reset} ${outbound}${fields.path}  ${COLOR.dim}${fields.durationMs} ms${COLOR.reset}${error}\n`,
    );
  }
}
