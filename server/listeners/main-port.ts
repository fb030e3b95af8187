/**
 * The main port: the client API (/_standin/v1/, plain node:http), the control plane
 * (/_standin/…, Express), and every other path as routed tunnel traffic.
 */

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { CLIENT_API_PREFIX } from '#shared/protocol/paths';
import { createControlPlaneApp } from '../control-plane/control-plane-app';
import { createClientApi } from '../client-api/client-api';
import { isStandinPath } from '../data-path/main-port-routing';
import { sendContinueIfAwaited } from '../http/expect-continue';
import { createMainPortTraffic } from '../data-path/main-port-traffic';
import { handleSelect, isSelectPath } from '../selector/select';
import type { ServerContext } from '../server-context';

export function createMainPortHandler(ctx: ServerContext): RequestListener {
  const clientApi = createClientApi(ctx);
  const controlPlane = createControlPlaneApp(ctx);
  const serveMainPortTraffic = createMainPortTraffic(ctx);
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    // standin's own endpoints read what they are sent at once; tunnel traffic waits for a client.
    if (isStandinPath(url)) sendContinueIfAwaited(req, res);
    if (url.startsWith(CLIENT_API_PREFIX)) clientApi(req, res);
    else if (isSelectPath(url)) handleSelect(ctx, req, res);
    else if (isStandinPath(url)) controlPlane(req, res);
    else serveMainPortTraffic(req, res);
  };
}
