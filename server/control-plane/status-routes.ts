/**
 * The status API (shared/protocol/status-api.ts) on Express. Who may read what is decided in
 * identity/status-access.ts (--status-access); stopping a tunnel needs an admin or the tunnel's
 * own developer, and `?forget=1` (admin) also releases its name and port.
 */

import express from 'express';
import { LIST_HISTORY_LENGTH, type CheckResult, STATUS_PATHS } from '#shared/protocol/status-api';
import { forgetTunnel } from '../lifecycle/forget-tunnel';
import { authenticateReader, mayRunCheck, maySeeDetails, mayStop, type StatusReader } from '../identity/status-access';
import type { ServerContext } from '../server-context';
import { stopTunnel } from '../lifecycle/stop-tunnel';
import { describeTunnelStatus, viewOfCheck } from './tunnel-status';

/** The reader of this request, set by the access middleware. */
interface ReaderLocals {
  reader: StatusReader;
}

export function createStatusRouter(ctx: ServerContext): express.Router {
  const router = express.Router();
  const readers = express.Router();
  readers.use('/_standin/api', async (req, res, next) => {
    const reader = await authenticateReader(ctx.auth, ctx.config.statusAccess, req);
    if ('status' in reader) {
      if (reader.retryAfterSeconds) res.set('retry-after', String(reader.retryAfterSeconds));
      res.status(reader.status).set('cache-control', 'no-store').json({ error: reader.code, message: reader.message });
      return;
    }
    (res.locals as ReaderLocals).reader = reader;
    next();
  });
  const readerOf = (res: express.Response) => (res.locals as ReaderLocals).reader;

  readers.get('/_standin/api/tunnels', (req, res) => {
    const reader = readerOf(res);
    res
      .set('cache-control', 'no-store')
      .json(
        ctx.registry
          .list()
          .map((tunnel) =>
            describeTunnelStatus(ctx, tunnel, LIST_HISTORY_LENGTH, maySeeDetails(reader, tunnel), Date.now(), req.headers.host),
          ),
      );
  });

  readers.get('/_standin/api/tunnels/:name', (req, res) => {
    const tunnel = ctx.registry.get(req.params.name);
    if (!tunnel) return void notFound(res, req.params.name);
    res
      .set('cache-control', 'no-store')
      .json(describeTunnelStatus(ctx, tunnel, Infinity, maySeeDetails(readerOf(res), tunnel), Date.now(), req.headers.host));
  });

  readers.get('/_standin/api/tunnels/:name/requests', async (req, res) => {
    const tunnel = ctx.registry.get(req.params.name);
    if (!tunnel) return void notFound(res, req.params.name);
    if (!maySeeDetails(readerOf(res), tunnel))
      return void forbidden(res, `the recent requests of ${tunnel.name} are for its owner and admins`);
    // Replica mode: the requests every replica served, from Redis.
    const listed = ctx.replicas
      ? await ctx.replicas.recentRequests(tunnel.name).catch(() => tunnel.recentRequests.list())
      : tunnel.recentRequests.list();
    res.set('cache-control', 'no-store').json(listed);
  });

  readers.get(STATUS_PATHS.replicas, (_req, res) => {
    // A single server is one replica of itself.
    res.set('cache-control', 'no-store').json(ctx.replicas ? ctx.replicas.replicaList() : []);
  });

  readers.post('/_standin/api/tunnels/:name/check', async (req, res) => {
    const tunnel = ctx.registry.get(req.params.name);
    if (!tunnel) return void notFound(res, req.params.name);
    if (!mayRunCheck(readerOf(res))) {
      res
        .status(401)
        .json({ error: 'unauthorized', message: '"Test now" needs a token: send "Authorization: Bearer <your standin token>"' });
      return;
    }
    const started = ctx.health.checkNow(tunnel);
    if (!(started instanceof Promise)) {
      const seconds = Math.ceil(started.retryAfterMs / 1000);
      res
        .status(429)
        .set('retry-after', String(seconds))
        .json({ error: 'rate_limited', message: `tunnel ${tunnel.name} was checked a moment ago; try again in ${seconds} s` });
      return;
    }
    const check = await started;
    const body: CheckResult = { name: tunnel.name, check: viewOfCheck(check), status: ctx.health.statusOf(tunnel) };
    res.json(body);
  });

  readers.delete('/_standin/api/tunnels/:name', (req, res) => {
    const reader = readerOf(res);
    const tunnel = ctx.registry.get(req.params.name);
    const forget = req.query.forget === '1' || req.query.forget === 'true';
    if (!reader.caller.admin && !ctx.auth.hasPersonalIdentity && ctx.config.adminToken === null) {
      res.status(403).json({ error: 'forbidden', message: 'admin actions are disabled on this server: start it with --admin-token' });
      return;
    }
    if (!reader.authenticated) {
      res.status(401).json({ error: 'unauthorized', message: 'stopping a tunnel needs "Authorization: Bearer <admin token>"' });
      return;
    }
    if (!tunnel) return void notFound(res, req.params.name);
    if (!mayStop(reader, tunnel) || (forget && !reader.caller.admin)) {
      return void forbidden(
        res,
        forget ? 'releasing a name (?forget=1) is for admins' : `only an admin or its owner may stop ${tunnel.name}`,
      );
    }
    stopTunnel(ctx, tunnel, 'stopped');
    ctx.logger.info(forget ? 'tunnel stopped and its name released' : 'tunnel stopped on request', {
      tunnel: tunnel.name,
      by: reader.caller.user ?? reader.caller.kind,
    });
    const body = describeTunnelStatus(ctx, tunnel, LIST_HISTORY_LENGTH, true, Date.now(), req.headers.host);
    if (forget) forgetTunnel(ctx, tunnel, { releasePort: true, releaseName: true });
    res.json(body);
  });

  // Metrics stay open for Prometheus: no owners or user data in them.
  router.get('/_standin/metrics', async (_req, res) => {
    res.type(ctx.metrics.contentType).send(await ctx.metrics.render());
  });
  router.use(readers);
  return router;
}

function notFound(res: express.Response, name: string): void {
  res.status(404).json({ error: 'not_found', message: `no tunnel named ${name.slice(0, 80)}` });
}

function forbidden(res: express.Response, message: string): void {
  res.status(403).json({ error: 'forbidden', message });
}
