/**
 * The inspector's HTTP server on 127.0.0.1: the page, its JSON API (docs/design.md "Request
 * inspector") and a server-sent event stream of new requests. It can replay requests against
 * the app, so it answers only requests that name it by a loopback Host (a web page that
 * rebinds its own DNS name to 127.0.0.1 sends its own name) and refuses cross-origin POSTs.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspectorPage } from './inspector-page';
import type { ReplayResult } from './replay';
import { ReplayRefusedError } from './replay';
import type { RequestStore, RequestSummary } from './request-store';

/** How many ports after the requested one to try when it is taken. */
const MAX_PORT_ATTEMPTS = 20;

/** Open event streams at most (each browser tab holds one). */
const MAX_EVENT_STREAMS = 32;

/** An event stream whose reader lags this far behind is closed; the page reconnects and reloads the list. */
const MAX_EVENT_BACKLOG_BYTES = 1024 * 1024;

/** Event streams get a comment line this often, so dead connections are noticed. */
const EVENT_HEARTBEAT_MS = 15_000;

/** Host headers the inspector answers: localhost or 127.0.0.1, any port. */
const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1)(:\d{1,5})?$/i;

/** What the inspector server needs. */
export interface InspectorDeps {
  store: RequestStore;
  replay(id: string): Promise<ReplayResult>;
}

/** A listening inspector. */
export interface InspectorServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 at `firstPort`, or the next free port after it; rejects when none of them is free. */
export async function startInspectorServer(deps: InspectorDeps, firstPort: number): Promise<InspectorServer> {
  const streams = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => void handle(req, res, deps, streams));
  const port = await listenOnFreePort(server, firstPort);
  const heartbeat = setInterval(() => streams.forEach((res) => res.write(': keep-alive\n\n')), EVENT_HEARTBEAT_MS).unref();
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(heartbeat);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function listenOnFreePort(server: http.Server, firstPort: number): Promise<number> {
  const attempts = firstPort === 0 ? 1 : MAX_PORT_ATTEMPTS;
  for (let port = firstPort; port < firstPort + attempts && port <= 65535; port++) {
    try {
      await listen(server, port);
      return (server.address() as AddressInfo).port;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error(`ports ${firstPort}-${firstPort + attempts - 1} on 127.0.0.1 are all taken`);
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, deps: InspectorDeps, streams: Set<http.ServerResponse>): Promise<void> {
  if (!LOOPBACK_HOST.test(req.headers.host ?? '')) {
    return sendJson(res, 403, { error: 'forbidden_host', message: 'the standin inspector answers only http://127.0.0.1 or http://localhost' });
  }
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const detailMatch = /^\/api\/requests\/([^/]+)$/.exec(url.pathname);
  const replayMatch = /^\/api\/requests\/([^/]+)\/replay$/.exec(url.pathname);
  if (req.method === 'GET' && url.pathname === '/') return sendPage(res);
  if (req.method === 'GET' && url.pathname === '/api/requests') return sendJson(res, 200, deps.store.list());
  if (req.method === 'GET' && url.pathname === '/api/events') return openEventStream(res, deps.store, streams);
  if (req.method === 'GET' && detailMatch) {
    const detail = deps.store.detail(decodeId(detailMatch[1]));
    return detail ? sendJson(res, 200, detail) : sendJson(res, 404, notFound(detailMatch[1]));
  }
  if (req.method === 'POST' && replayMatch) return replay(req, res, deps, decodeId(replayMatch[1]));
  sendJson(res, 404, { error: 'not_found', message: `no inspector endpoint ${req.method} ${url.pathname.slice(0, 100)}` });
}

async function replay(req: http.IncomingMessage, res: http.ServerResponse, deps: InspectorDeps, id: string): Promise<void> {
  // A page on another origin may POST here blind (no preflight for a bodiless POST): refuse it.
  // Only the inspector's own exact origin: another local dev server (http://localhost:5173) is
  // a different origin too, and must not replay a tester's request with its cookies and body.
  const origin = req.headers.origin;
  if (origin !== undefined && !isOwnOrigin(origin, req.socket.localPort)) {
    return sendJson(res, 403, { error: 'forbidden_origin', message: 'replay is only allowed from the inspector page itself' });
  }
  req.resume();
  if (!deps.store.get(id)) return sendJson(res, 404, notFound(id));
  try {
    sendJson(res, 200, await deps.replay(id));
  } catch (error) {
    if (error instanceof ReplayRefusedError) return sendJson(res, 409, { error: error.code, message: error.message });
    sendJson(res, 500, { error: 'internal_error', message: (error as Error).message });
  }
}

function openEventStream(res: http.ServerResponse, store: RequestStore, streams: Set<http.ServerResponse>): void {
  if (streams.size >= MAX_EVENT_STREAMS) return sendJson(res, 503, { error: 'too_many_streams', message: `at most ${MAX_EVENT_STREAMS} inspector pages can be open` });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.write(': connected\n\n');
  streams.add(res);
  const unsubscribe = store.subscribe((summary: RequestSummary) => {
    if (res.writableLength > MAX_EVENT_BACKLOG_BYTES) return void res.destroy();
    res.write(`event: request\ndata: ${JSON.stringify(summary)}\n\n`);
  });
  res.once('close', () => {
    unsubscribe();
    streams.delete(res);
  });
}

function decodeId(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Whether `origin` is this inspector's own: http, a loopback name, and the very port it listens on. */
function isOwnOrigin(origin: string, ownPort: number | undefined): boolean {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' && LOOPBACK_HOST.test(url.host) && url.port === String(ownPort);
  } catch {
    return false;
  }
}

function notFound(id: string) {
  return { error: 'not_found', message: `no request ${decodeId(id).slice(0, 80)} in the inspector (it keeps the last 500)` };
}

function sendPage(res: http.ServerResponse): void {
  const body = inspectorPage();
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'content-security-policy': "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'",
  });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
