/**
 * `standin status --server <url>`: the server's tunnels as a terminal table (or `--json`), read
 * from the open status API. Exit codes: 0 shown, 2 usage error, 1 the server could not be read.
 */

import type { Argv } from 'yargs';
import { request } from 'undici';
import { formatDuration } from '#shared/duration';
import { STATUS_PATHS, type TunnelStatus } from '#shared/protocol/status-api';
import { parseUrlFlag } from '#shared/url-flag';
import { EXIT } from './exit-codes';

/** Declares the options of `standin status`. */
export function statusOptions<T>(yargs: Argv<T>) {
  return (
    yargs
      .option('server', { type: 'string', demandOption: true, description: 'URL of the standin server' })
      // The same token option as `connect`, so an exported STANDIN_TOKEN is accepted (and sent:
      // a server may keep its status behind the client token).
      .option('token', { type: 'string', description: 'Token of the standin server', defaultDescription: 'none' })
      .option('json', { type: 'boolean', default: false, description: 'Print the status API answer as JSON, for scripts' })
      .example('$0 status --server https://standin.test.example.com', 'a table of tunnels')
      .example('$0 status --server 127.0.0.1:8080 --json', 'JSON, for scripts')
  );
}

/** The parsed argv of `standin status`. */
export type StatusArgv = Awaited<ReturnType<typeof statusOptions>['argv']>;

/** Fetches and prints the tunnels; resolves with the exit code. */
export async function runStatus(argv: StatusArgv, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  let url: URL;
  try {
    if (!argv.server) throw new Error('--server is required (or set STANDIN_SERVER)');
    url = new URL(STATUS_PATHS.tunnels, parseUrlFlag('server', argv.server, 'https://standin.test.example.com'));
  } catch (error) {
    process.stderr.write(`standin: ${(error as Error).message}\n`);
    return EXIT.config;
  }
  let tunnels: TunnelStatus[];
  try {
    tunnels = await fetchTunnels(url, argv.token ? argv.token : null);
  } catch (error) {
    process.stderr.write(`standin: could not read ${url.href}: ${(error as Error).message}\n`);
    return EXIT.other;
  }
  out.write(argv.json ? `${JSON.stringify(tunnels, null, 2)}\n` : formatStatusTable(tunnels));
  return EXIT.ok;
}

async function fetchTunnels(url: URL, token: string | null): Promise<TunnelStatus[]> {
  const headers: Record<string, string> = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const response = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000, headers });
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`the server answered HTTP ${response.statusCode}`);
  }
  return (await response.body.json()) as TunnelStatus[];
}

/** The tunnels as an aligned plain-text table, one line per tunnel. */
export function formatStatusTable(tunnels: TunnelStatus[], now = Date.now()): string {
  if (tunnels.length === 0) return 'No tunnels.\n';
  const header = ['NAME', 'PORT', 'STATE', 'HEALTH', 'LATENCY', 'TIME LEFT', 'REQUESTS', 'ERRORS', 'OWNER', 'TARGET'];
  const rows = tunnels.map((tunnel) => [
    tunnel.name,
    tunnel.port === null ? '-' : String(tunnel.port),
    tunnel.state,
    tunnel.health.status,
    tunnel.health.latencyMs === null ? '-' : `${Math.round(tunnel.health.latencyMs)} ms`,
    formatTimeLeft(tunnel, now),
    String(tunnel.counters.requests),
    String(tunnel.counters.errors),
    tunnel.client.owner ?? '-',
    tunnel.client.target ?? '-',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  return (
    [header, ...rows]
      .map((row) =>
        row
          .map((cell, column) => cell.padEnd(widths[column]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** "3h 12m left", "Expired", or "-" for a tunnel stopped otherwise. */
export function formatTimeLeft(tunnel: Pick<TunnelStatus, 'expiresAt' | 'state' | 'stopReason'>, now = Date.now()): string {
  const leftMs = Date.parse(tunnel.expiresAt) - now;
  if (leftMs <= 0 || tunnel.stopReason === 'expired') return 'Expired';
  if (tunnel.state === 'stopped') return '-';
  return `${formatDuration(leftMs)} left`;
}
