/**
 * The inspector's HTTP server on 127.0.0.1: the page, its JSON API (docs/design.md "Request
 * inspector", docs/inspector.md), the HAR export and a server-sent event stream of new requests.
 * It can replay requests against the app and send them to the cluster, so it answers only
 * requests that name it by a loopback Host (a web page that rebinds its own DNS name to
 * 127.0.0.1 sends its own name) and refuses cross-site POSTs.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StandinError } from '#shared/errors';
import type { RequestRecord } from './request-capture';
import { CLIENT_VERSION } from '../session/registration';
import { CompareRefusedError, type Comparison } from './cluster-comparison';
import { curlCommand } from './curl-command';
import { harLog } from './har-export';
import { inspectorPage } from './inspector-page';
import type { ReplayResult } from './replay';
import { ReplayRefusedError } from './replay';
import { MAX_EDITS_JSON_BYTES, parseReplayEdits, ReplayEditError, type ReplayEdits } from './replay-edits';
import { isFiltering, parseRequestFilter, type RequestFilter } from './request-filter';
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

/** The HAR export's path. */
const HAR_PATH = '/api/requests.har';

/** How long a replay's edits or a compare's (empty) body may take to arrive. */
const ACTION_BODY_TIMEOUT_MS = 10_000;

/** What the inspector server needs. */
export interface InspectorDeps {
  store: RequestStore;
  /** The app a request was sent to (curl, HAR). */
  targetOf(record: RequestRecord): URL;
  replay(id: string, edits?: ReplayEdits): Promise<ReplayResult>;
  compare(id: string): Promise<Comparison>;
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

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  deps: InspectorDeps,
  streams: Set<http.ServerResponse>,
): Promise<void> {
  if (!LOOPBACK_HOST.test(req.headers.host ?? '')) {
    return sendJson(res, 403, {
      error: 'forbidden_host',
      message: 'the standin inspector answers only http://127.0.0.1 or http://localhost',
    });
  }
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const request = /^\/api\/requests\/([^/]+)(\/replay|\/compare|\/curl|\/request-body)?$/.exec(url.pathname);
  if (req.method === 'GET' && url.pathname === '/') return sendPage(res);
  if (req.method === 'GET' && url.pathname === '/api/requests') return sendList(res, deps.store, parseRequestFilter(url.searchParams));
  if (req.method === 'GET' && url.pathname === HAR_PATH) return sendHar(res, deps, parseRequestFilter(url.searchParams));
  if (req.method === 'GET' && url.pathname === '/api/events') return openEventStream(res, deps.store, streams);
  if (request) {
    const [, encodedId, action] = request;
    const id = decodeId(encodedId);
    if (req.method === 'POST' && (action === '/replay' || action === '/compare')) return runAction(req, res, deps, id, action);
    if (req.method === 'GET') return sendRequestView(res, deps, id, action);
  }
  sendJson(res, 404, { error: 'not_found', message: `no inspector endpoint ${req.method} ${url.pathname.slice(0, 100)}` });
}

/** GET /api/requests[?method=&status=&path=&text=]; X-Total-Count says how many are kept in all. */
function sendList(res: http.ServerResponse, store: RequestStore, filter: RequestFilter): void {
  sendJson(res, 200, store.list(isFiltering(filter) ? filter : undefined), { 'x-total-count': String(store.size) });
}

/** GET /api/requests.har[?filter]: the (filtered) list as an HTTP Archive, downloaded as a file. */
function sendHar(res: http.ServerResponse, deps: InspectorDeps, filter: RequestFilter): void {
  const har = harLog(deps.store.matching(isFiltering(filter) ? filter : undefined), (record) => deps.targetOf(record), CLIENT_VERSION);
  sendJson(res, 200, har, { 'content-disposition': 'attachment; filename="standin-requests.har"' });
}

/** GET /api/requests/<id>, .../curl (text/plain) and .../request-body (the captured bytes, to edit them). */
function sendRequestView(res: http.ServerResponse, deps: InspectorDeps, id: string, action: string | undefined): void {
  const record = deps.store.get(id);
  if (!record) return sendJson(res, 404, notFound(id));
  if (action === undefined) return sendJson(res, 200, deps.store.detail(id));
  if (action === '/curl') return sendText(res, 'text/plain; charset=utf-8', curlCommand(record, { target: deps.targetOf(record) }));
  if (action === '/request-body') return sendText(res, 'application/octet-stream', record.requestPreview);
  sendJson(res, 405, { error: 'method_not_allowed', message: `use POST for ${action.slice(1)}` });
}

/** POST .../replay (with optional edits) and POST .../compare: they act, so only the page itself may ask. */
async function runAction(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  deps: InspectorDeps,
  id: string,
  action: '/replay' | '/compare',
): Promise<void> {
  const refusal = crossSiteRefusal(req);
  if (refusal) {
    req.resume();
    return sendJson(res, 403, { error: 'forbidden_origin', message: refusal });
  }
  let body: Buffer;
  try {
    body = await readBoundedBody(req, MAX_EDITS_JSON_BYTES, ACTION_BODY_TIMEOUT_MS);
  } catch (error) {
    return sendJson(res, 413, { error: 'payload_too_large', message: (error as Error).message });
  }
  if (!deps.store.get(id)) return sendJson(res, 404, notFound(id));
  try {
    if (action === '/compare') return sendJson(res, 200, await deps.compare(id));
    sendJson(res, 200, await deps.replay(id, body.length > 0 ? parseEdits(req, body) : undefined));
  } catch (error) {
    if (error instanceof ReplayEditError) return sendJson(res, 400, { error: error.code, message: error.message });
    if (error instanceof ReplayRefusedError || error instanceof CompareRefusedError)
      return sendJson(res, 409, { error: error.code, message: error.message });
    // The server refused or failed the comparison: pass its code and words on.
    if (error instanceof StandinError)
      return sendJson(res, error.code === 'no_fallback' ? 409 : 502, { error: error.code, message: error.message });
    // A comparison that failed on the way (server unreachable, timeout) is the network's fault, not ours.
    if (action === '/compare')
      return sendJson(res, 502, { error: 'compare_failed', message: `the standin server could not be asked: ${(error as Error).message}` });
    sendJson(res, 500, { error: 'internal_error', message: (error as Error).message });
  }
}

/**
 * Why a POST must be refused as coming from another site, or undefined. A page on another
 * origin may POST here blind (no preflight for a simple POST), and the developer's browser
 * would carry it to 127.0.0.1: refuse any Origin but the inspector's own exact one (another
 * local dev server, http://localhost:5173, is a different origin too), and any Sec-Fetch-Site
 * but same-origin (or none: typed in or sent by a tool). Tools such as curl send neither.
 */
function crossSiteRefusal(req: http.IncomingMessage): string | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined && !isOwnOrigin(origin, req.socket.localPort))
    return 'replay and compare are only allowed from the inspector page itself';
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return 'replay and compare are only allowed from the inspector page itself';
  return undefined;
}

/** The edits of an edit-and-replay: JSON only, which a cross-site form cannot send without a preflight. */
function parseEdits(req: http.IncomingMessage, body: Buffer): ReplayEdits {
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
    throw new ReplayEditError('send the edits as Content-Type: application/json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ReplayEditError('the edits are not valid JSON');
  }
  return parseReplayEdits(parsed);
}

/** Reads a request body of at most `maxBytes` within `timeoutMs`. */
function readBoundedBody(req: http.IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => fail(new Error(`the request body did not arrive within ${timeoutMs / 1000} s`)), timeoutMs).unref();
    const fail = (error: Error) => {
      clearTimeout(timer);
      req.removeAllListeners('data');
      req.resume();
      reject(error);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return fail(new Error(`the request body is larger than ${maxBytes} bytes`));
      chunks.push(chunk);
    });
    req.once('error', fail);
    req.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks, size));
    });
  });
}

function openEventStream(res: http.ServerResponse, store: RequestStore, streams: Set<http.ServerResponse>): void {
  if (streams.size >= MAX_EVENT_STREAMS)
    return sendJson(res, 503, { error: 'too_many_streams', message: `at most ${MAX_EVENT_STREAMS} inspector pages can be open` });
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

function sendJson(res: http.ServerResponse, status: number, value: unknown, extraHeaders: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extraHeaders,
  });
  res.end(body);
}

function sendText(res: http.ServerResponse, contentType: string, body: string | Buffer): void {
  // nosniff: a captured body must never be taken for a page by a browser that opens this URL.
  res.writeHead(200, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}
