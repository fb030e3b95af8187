/**
 * The main port: the client API (/_standin/v1/, plain node:http), the rest of the control plane
 * (/_standin/…, Express), and every other path as routed tunnel traffic.
 */

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { CLIENT_API_PREFIX, CONTROL_PREFIX } from '../shared/protocol';
import { createApp } from './app';
import { createClientApi } from './client-api';
import { sendStandinError } from './error-page';
import type { ServerContext } from './server-context';
import { v4 as uuidv4 } from 'uuid';

export function createMainPortHandler(ctx: ServerContext): RequestListener {
  const clientApi = createClientApi(ctx);
  const app = createApp(ctx);
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url.startsWith(CLIENT_API_PREFIX)) clientApi(req, res);
    else if (url.startsWith(CONTROL_PREFIX) || url === '/_standin') app(req, res);
    else serveMainPortTraffic(req, res);
  };
}

/** Browser traffic on the main port with no tunnel selected. */
function serveMainPortTraffic(req: IncomingMessage, res: ServerResponse): void {
  sendStandinError(req, res, 'no_tunnel', { requestId: uuidv4(), message: 'This request did not select a tunnel, and this server has no --fallback.' });
}
