/**
 * The status API (shared/status-api.ts) on Express: reading is open, like the original
 * DevTunnel report page; "Test now" is open too (a check is one tiny probe, and one per tunnel
 * runs at a time); stopping a tunnel needs the admin token.
 */

import express from 'express';
import { LIST_HISTORY_LENGTH, type CheckResult } from '../shared/status-api';
import { createBearerCheck } from './auth';
import type { ServerContext } from './server-context';
import { stopTunnel } from './stop-tunnel';
import { describeTunnelStatus, viewOfCheck } from './tunnel-status';

export function createStatusRouter(ctx: ServerContext): express.Router {
  const router = express.Router();
  const isAdmin = ctx.config.adminToken === null ? () => false : createBearerCheck(ctx.config.adminToken);

  router.get('/_standin/api/tunnels', (req, res) => {
    res.set('cache-control', 'no-store').json(ctx.registry.list().map((tunnel) => describeTunnelStatus(ctx, tunnel, LIST_HISTORY_LENGTH, Date.now(), req.headers.host)));
  });

  router.get('/_standin/api/tunnels/:name', (req, res) => {
    const tunnel = ctx.registry.get(req.params.name);
    if (!tunnel) return void notFound(res, req.params.name);
    res.set('cache-control', 'no-store').json(describeTunnelStatus(ctx, tunnel, Infinity, Date.now(), req.headers.host));
  });

  router.post('/_standin/api/tunnels/:name/check', async (req, res) => {
    const tunnel = ctx.registry.get(req.params.name);
    if (!tunnel) return void notFound(res, req.params.name);
    const check = await ctx.health.check(tunnel);
    const body: CheckResult = { name: tunnel.name, check: viewOfCheck(check), status: ctx.health.statusOf(tunnel) };
    res.json(body);
  });

  router.delete('/_standin/api/tunnels/:name', (req, res) => {
    if (ctx.config.adminToken === null) {
      res.status(403).json({ error: 'forbidden', message: 'admin actions are disabled on this server: start it with --admin-token' });
      return;
    }
    if (!isAdmin(req)) {
      res.status(401).json({ error: 'unauthorized', message: 'stopping a tunnel needs "Authorization: Bearer <admin token>"' });
      return;
    }
    const tunnel = ctx.registry.get(req.params.name);
    if (!tunnel) return void notFound(res, req.params.name);
    stopTunnel(ctx, tunnel, 'stopped');
    res.json(describeTunnelStatus(ctx, tunnel, LIST_HISTORY_LENGTH));
  });

  router.get('/_standin/metrics', async (_req, res) => {
    res.type(ctx.metrics.contentType).send(await ctx.metrics.render());
  });

  return router;
}

function notFound(res: express.Response, name: string): void {
  res.status(404).json({ error: 'not_found', message: `no tunnel named ${name.slice(0, 80)}` });
}
