/**
 * The internal port (--internal-listen): where the other replicas pass on browser requests and
 * client answers (replica-forwarding.ts). Every call must carry a valid cluster signature
 * (cluster-auth.ts); anything else gets 401 and learns nothing. What arrives is served exactly as
 * if it had arrived here, except that it is never passed on again (no loops) unless this replica
 * is draining.
 */

import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { CLIENT_API_PREFIX, TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';
import { createInternalClientApi } from '../client-api/client-api';
import { replyError } from '../http/json-reply';
import { createHttpListener } from '../listeners/http-listener';
import { serveThroughTunnel } from '../data-path/tunnel-traffic';
import type { ServerContext } from '../server-context';
import { recordForwardedPeer } from '../http/trusted-proxies';
import { serveUpgradeThroughTunnel } from '../data-path/upgrade-traffic';
import { CLUSTER_AUTH_HEADER, ClusterCallCheck } from './cluster-auth';
import { FORWARDED } from './replica-forwarding';
import { POLL_GRACE_MS } from '#shared/protocol/limits';

const BROWSER_PATH = /^\/_standin\/internal\/v1\/tunnels\/([^/?]+)\/browser$/;
const PROBE_PATH = /^\/_standin\/internal\/v1\/tunnels\/([^/?]+)\/probe$/;
const ANSWER_PREFIX = '/_standin/internal/v1/';

export function createInternalListener(ctx: ServerContext, clusterSecret: string): http.Server {
  const clientApi = createInternalClientApi(ctx);
  const signatures = new ClusterCallCheck(clusterSecret);
  const isSigned = (req: http.IncomingMessage) => signatures.verify(req.headers[CLUSTER_AUTH_HEADER], req.method ?? '', req.url ?? '');
  return createHttpListener({
    limits: {
      ...ctx.config.publicPortLimits,
      // Another replica is one source with many connections; the main port's per-source cap does not fit.
      maxConnectionsPerSource: 0,
      // A passed-on head repeats the browser's URL, percent-encoded (up to three times as long), in a header.
      maxHeaderBytes: ctx.config.publicPortLimits.maxHeaderBytes * 4 + 4096,
    },
    idleTimeoutMs: Math.max(ctx.config.publicPortLimits.idleTimeoutMs, ctx.config.pollTimeoutMs + POLL_GRACE_MS + 5_000),
    logger: ctx.logger,
    onRequest: (req, res) => {
      if (!isSigned(req)) {
        req.resume();
        return replyError(res, 401, 'unauthorized', 'not a call from a standin replica of this cluster');
      }
      const path = req.url ?? '';
      const browser = BROWSER_PATH.exec(path);
      if (browser && TUNNEL_NAME_PATTERN.test(browser[1])) {
        restoreBrowserRequest(req);
        return serveThroughTunnel(ctx, browser[1], req, res, { forwarded: true });
      }
      const probe = PROBE_PATH.exec(path);
      if (probe && req.method === 'POST') return void answerProbe(ctx, probe[1], res);
      if (path.startsWith(ANSWER_PREFIX)) {
        req.url = `${CLIENT_API_PREFIX}${path.slice(ANSWER_PREFIX.length)}`;
        return clientApi(req, res);
      }
      req.resume();
      replyError(res, 404, 'not_found', 'no such internal endpoint');
    },
    onUpgrade: (req, socket: Duplex, head) => {
      const browser = BROWSER_PATH.exec(req.url ?? '');
      if (!isSigned(req) || !browser || !TUNNEL_NAME_PATTERN.test(browser[1])) return void socket.destroy();
      restoreBrowserRequest(req);
      serveUpgradeThroughTunnel(ctx, browser[1], req, socket, head, { forwarded: true });
    },
  });
}

/** Gives a passed-on browser request back its own URL and what the first replica knew of its connection. */
function restoreBrowserRequest(req: http.IncomingMessage): void {
  const url = header(req, FORWARDED.url);
  try {
    req.url = url ? decodeURIComponent(url) : '/';
  } catch {
    req.url = '/';
  }
  recordForwardedPeer(req, {
    address: header(req, FORWARDED.peer) ?? 'unknown',
    trusted: header(req, FORWARDED.trusted) === '1',
    tls: header(req, FORWARDED.tls) === '1',
  });
}

/** Runs a health probe of tunnel `name` through a poll held here, for the replica holding the health lease. */
async function answerProbe(ctx: ServerContext, name: string, res: http.ServerResponse): Promise<void> {
  const tunnel = ctx.registry.get(name);
  if (!tunnel) return replyError(res, 404, 'not_found', `no tunnel named ${name}`);
  const check = await ctx.health.probeHere(tunnel);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(check));
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}
