/**
 * The Express app for the control plane under /_standin/ (probes, status API, dashboard).
 * It never listens itself, so tests and standin-server.ts decide where it runs.
 */

import express from 'express';
import type { ServerContext } from './server-context';
import type { Tunnel } from './tunnel';

export function createApp(ctx: ServerContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/_standin/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/_standin/readyz', (_req, res) => {
    if (ctx.drain.draining) res.status(503).type('text/plain').send('draining\n');
    else res.type('text/plain').send('ready\n');
  });
  app.get('/_standin/api/tunnels', (_req, res) => {
    res.json(ctx.registry.list().map(describeTunnel));
  });
  app.get('/_standin/api/tunnels/:name', (req, res) => {
    const tunnel = ctx.registry.get(req.params.name);
    if (!tunnel) {
      res.status(404).json({ error: 'not_found', message: `no tunnel named ${req.params.name}` });
      return;
    }
    res.json(describeTunnel(tunnel));
  });
  app.use('/_standin', (req, res) => {
    res.status(404).json({ error: 'not_found', message: `no standin endpoint at ${req.originalUrl.slice(0, 100)}` });
  });
  return app;
}

/** The public JSON view of a tunnel (no session id: that is the client's secret). */
export function describeTunnel(tunnel: Tunnel) {
  return {
    name: tunnel.name,
    port: tunnel.port,
    state: tunnel.state,
    online: tunnel.isOnline,
    createdAt: new Date(tunnel.createdAt).toISOString(),
    expiresAt: new Date(tunnel.expiresAt).toISOString(),
    lastSeenAt: new Date(tunnel.lastSeenAt).toISOString(),
    client: { version: tunnel.version, owner: tunnel.owner, target: tunnel.target },
    counters: { ...tunnel.counters, queued: tunnel.session.queuedCount, idlePolls: tunnel.session.idlePollCount },
  };
}
