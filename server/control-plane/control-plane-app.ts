/**
 * The Express app for the control plane under /_standin/ (probes, status API, dashboard).
 * It never listens itself, so tests and standin-server.ts decide where it runs.
 */

import express from 'express';
import { PATHS } from '#shared/protocol/paths';
import type { ServerContext } from '../server-context';
import { renderDashboardPage } from './dashboard/dashboard-page';
import { createStatusRouter } from './status-routes';

export function createControlPlaneApp(ctx: ServerContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get(PATHS.healthz, (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/_standin/readyz', (_req, res) => {
    if (ctx.drain.draining) res.status(503).type('text/plain').send('draining\n');
    else if (ctx.replicas && !ctx.replicas.ready) res.status(503).type('text/plain').send('redis unreachable\n');
    else res.type('text/plain').send('ready\n');
  });
  app.get(['/_standin', '/_standin/'], (_req, res) => {
    res
      .type('html')
      .set('cache-control', 'no-store')
      .send(renderDashboardPage({ tokenRequired: ctx.auth.hasClientAuth }));
  });
  app.use(createStatusRouter(ctx));
  app.use('/_standin', (req, res) => {
    res.status(404).json({ error: 'not_found', message: `no standin endpoint at ${req.originalUrl.slice(0, 100)}` });
  });
  return app;
}
