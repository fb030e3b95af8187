/**
 * In-process tests of the server core: a browser request's life (queue, hand-over, answer,
 * failure, finish), a tunnel session, and the stop cascade, on small fakes (a fake socket under
 * real node:http request and response objects, a fake metrics sink), with no listener, no
 * spawned process and no client. Each runs in milliseconds; the process tests cover the wire.
 */

import http from 'node:http';
import { Duplex, PassThrough } from 'node:stream';
import { createLogger } from '#shared/logger';
import type { RegisterRequest } from '#shared/protocol/messages';
import { BrowserRequest } from '../server/core/browser-request';
import { ServerDrain } from '../server/lifecycle/server-drain';
import { HandedRequests } from '../server/core/handed-requests';
import type { StandinMetrics } from '../server/observability/metrics';
import type { ServerContext } from '../server/server-context';
import { RequestIds } from '../server/core/request-ids';
import { stopTunnel } from '../server/lifecycle/stop-tunnel';
import { Tunnel } from '../server/core/tunnel';
import { admitToTunnel } from '../server/data-path/tunnel-admission';
import { serveUpgradeThroughTunnel } from '../server/data-path/upgrade-traffic';
import { InMemoryTunnelRegistry } from '../server/core/tunnel-registry';
import { EndedSessions } from '../server/core/ended-sessions';

const REQUEST_TIMEOUT_MS = 200;

/** A socket that keeps what is written to it; closing it closes the response on it. */
class FakeSocket extends Duplex {
  readonly written: Buffer[] = [];
  _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.written.push(chunk);
    done();
  }
  _read(): void {}
  get text(): string {
    return Buffer.concat(this.written).toString('latin1');
  }
}

/** One browser exchange: a real IncomingMessage and ServerResponse over a FakeSocket. */
interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  socket: FakeSocket;
  /** The status line's code the browser got, or undefined while none. */
  status(): number | undefined;
}

/** A browser's request head as node:http would have parsed it, on `socket`. */
function incomingRequest(socket: FakeSocket, method: string, url: string, headers: Record<string, string>): http.IncomingMessage {
  const req = new http.IncomingMessage(socket as never);
  req.method = method;
  req.url = url;
  req.headers = { host: 'example.test', ...headers };
  req.rawHeaders = Object.entries(req.headers).flatMap(([name, value]) => [name, String(value)]);
  return req;
}

/** The status code of the first status line written to `socket`, or undefined while none. */
function statusWritten(socket: FakeSocket): number | undefined {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(socket.text);
  return match ? Number(match[1]) : undefined;
}

function browserExchange(method = 'GET', url = '/x', headers: Record<string, string> = {}): Exchange {
  const socket = new FakeSocket();
  const req = incomingRequest(socket, method, url, headers);
  const res = new http.ServerResponse(req);
  res.assignSocket(socket as never);
  // As node:http's server does: a finished response closes.
  res.once('finish', () => setImmediate(() => res.emit('close')));
  return { req, res, socket, status: () => statusWritten(socket) };
}

/** A poll answer the session writes a request into. */
function pollAnswer(): http.ServerResponse {
  return browserExchange('GET', '/_standin/v1/tunnels/t/poll').res;
}

interface Observed {
  requests: number;
  upgradesClosed: number;
}

function fakeContext(overrides: Partial<ServerContext['config']> = {}): { ctx: ServerContext; observed: Observed; logs: PassThrough } {
  const observed: Observed = { requests: 0, upgradesClosed: 0 };
  const metrics = {
    observeRequest: () => observed.requests++,
    observeUpgradeAccepted: () => undefined,
    observeUpgradeClosed: () => observed.upgradesClosed++,
  } as unknown as StandinMetrics;
  const logs = new PassThrough();
  logs.resume();
  const ctx = {
    config: {
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      maxQueuedRequests: 10,
      maxInFlightRequests: 100,
      maxUpgradesPerTunnel: 10,
      pollTimeoutMs: 60_000,
      ...overrides,
    },
    logger: createLogger({ format: 'json', level: 'debug', stream: logs }),
    registry: new InMemoryTunnelRegistry(),
    handed: new HandedRequests(),
    portPool: null,
    drain: new ServerDrain(),
    metrics,
    requestIds: new RequestIds(),
    replicas: null,
  } as unknown as ServerContext;
  return { ctx, observed, logs };
}

const REGISTRATION: RegisterRequest = { name: 't', target: 'http://localhost:3000' };

function addTunnel(ctx: ServerContext, name = 't'): Tunnel {
  const tunnel = new Tunnel(
    name,
    null,
    { ...REGISTRATION, name },
    Date.now() + 3_600_000,
    { pollTimeoutMs: 60_000, maxQueuedRequests: 10 },
    ctx.handed,
  );
  ctx.registry.add(tunnel);
  return tunnel;
}

/** A tunnel whose client holds one idle poll, so it is online; returns that poll's answer. */
function withIdlePoll(tunnel: Tunnel): http.ServerResponse {
  const poll = pollAnswer();
  tunnel.session.acceptPoll(poll);
  return poll;
}

function admit(ctx: ServerContext, exchange: Exchange, name = 't'): BrowserRequest {
  const request = new BrowserRequest(exchange.req, exchange.res, name, ctx.logger);
  admitToTunnel(ctx, name, request);
  return request;
}

/** Lets writes, 'finish' and 'close' run. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every index that could still hold a request, for the "left everything" checks. */
function indexes(ctx: ServerContext, tunnel: Tunnel) {
  return { handed: ctx.handed.size, queued: tunnel.session.queuedCount, inFlight: tunnel.counters.inFlight };
}

describe('a browser request has one way out, and leaves every index', () => {
  test('a request nobody polls for times out with 504, once, and leaves the queue and the in-flight count', async () => {
    const { ctx, observed } = fakeContext();
    const tunnel = addTunnel(ctx);
    const poll = withIdlePoll(tunnel);
    // Take the idle poll with a first request, so the second one queues.
    const first = admit(ctx, browserExchange());
    expect(first.state).toBe('handed');
    expect(poll.headersSent).toBe(true);
    const exchange = browserExchange();
    const request = admit(ctx, exchange);
    expect(request.state).toBe('queued');
    expect(indexes(ctx, tunnel)).toEqual({ handed: 1, queued: 1, inFlight: 2 });
    await sleep(REQUEST_TIMEOUT_MS + 50);
    await tick();
    expect(exchange.status()).toBe(504);
    expect(request.finished).toBe(true);
    expect(first.finished).toBe(true);
    expect(indexes(ctx, tunnel)).toEqual({ handed: 0, queued: 0, inFlight: 0 });
    // One finish step per request: counters, recent requests and metrics once each.
    expect(observed.requests).toBe(2);
    expect(tunnel.recentRequests.list().length).toBe(2);
    expect(tunnel.counters).toMatchObject({ requests: 2, errors: 2 });
  });

  test('a browser that leaves while queued takes its request out of the queue', async () => {
    const { ctx, observed } = fakeContext();
    const tunnel = addTunnel(ctx);
    withIdlePoll(tunnel);
    admit(ctx, browserExchange());
    const exchange = browserExchange();
    const request = admit(ctx, exchange);
    expect(tunnel.session.queuedCount).toBe(1);
    exchange.socket.destroy();
    await tick();
    expect(request.finished).toBe(true);
    expect(tunnel.session.queuedCount).toBe(0);
    expect(tunnel.counters.inFlight).toBe(1);
    expect(observed.requests).toBe(1);
  });

  test('an app response head with a line break answers 502 app_error instead of throwing', async () => {
    const { ctx } = fakeContext();
    const tunnel = addTunnel(ctx);
    withIdlePoll(tunnel);
    const exchange = browserExchange();
    const request = admit(ctx, exchange);
    const sent = request.sendResponseHead({ kind: 'response', status: 200, headers: ['x-evil', 'a\r\nSet-Cookie: stolen=1'], appMs: 1 });
    expect(sent).toBe(false);
    await tick();
    expect(exchange.status()).toBe(502);
    expect(exchange.socket.text).toContain('x-standin-error: app_error');
    expect(exchange.socket.text).not.toContain('stolen');
    expect(request.errorCode).toBe('app_error');
    // Non-Latin-1 is refused the same way.
    const second = browserExchange();
    withIdlePoll(tunnel);
    const other = admit(ctx, second);
    expect(other.sendResponseHead({ kind: 'response', status: 200, headers: ['x-name', '名前'], appMs: 1 })).toBe(false);
    expect(second.status()).toBe(502);
  });

  test('a failed request cuts the poll answer still carrying its upload, so the client learns', async () => {
    const { ctx } = fakeContext();
    const tunnel = addTunnel(ctx);
    const poll = withIdlePoll(tunnel);
    const exchange = browserExchange('POST', '/upload', { 'content-length': '1000000' });
    const request = admit(ctx, exchange);
    exchange.req.push(Buffer.from('a few bytes'));
    await tick();
    expect(request.state).toBe('handed');
    expect(request.bytesIn).toBe(11);
    expect(poll.destroyed).toBe(false);
    await sleep(REQUEST_TIMEOUT_MS + 50);
    expect(exchange.status()).toBe(504);
    expect(poll.destroyed).toBe(true);
    await tick();
    expect(indexes(ctx, tunnel)).toEqual({ handed: 0, queued: 0, inFlight: 0 });
  });

  test('an upload that stops after the app answered is cut after the request timeout; the response stays', async () => {
    const { ctx } = fakeContext();
    const tunnel = addTunnel(ctx);
    const poll = withIdlePoll(tunnel);
    const exchange = browserExchange('POST', '/upload', { 'content-length': '1000000' });
    const request = admit(ctx, exchange);
    exchange.req.push(Buffer.from('some'));
    await tick();
    // The app answers early, before reading the upload (401, 413, …).
    expect(request.sendResponseHead({ kind: 'response', status: 413, headers: ['content-length', '0'], appMs: 1 })).toBe(true);
    expect(exchange.res.headersSent).toBe(true);
    expect(exchange.res.statusCode).toBe(413);
    expect(poll.destroyed).toBe(false);
    await sleep(REQUEST_TIMEOUT_MS + 50);
    expect(poll.destroyed).toBe(true);
    expect(request.errorCode).toBeUndefined();
  });

  test('fail() after an answer only cuts; a second fail() changes nothing', async () => {
    const { ctx, observed } = fakeContext();
    const tunnel = addTunnel(ctx);
    withIdlePoll(tunnel);
    const exchange = browserExchange();
    const request = admit(ctx, exchange);
    request.fail('app_unreachable', 'down');
    request.fail('timeout', 'late');
    await tick();
    expect(exchange.status()).toBe(502);
    expect(request.errorCode).toBe('app_unreachable');
    expect(exchange.socket.text.match(/HTTP\/1\.1/g)?.length).toBe(1);
    expect(observed.requests).toBe(1);
  });
});

describe('admission is one path for plain requests and upgrades', () => {
  test('an unknown tunnel, a stopped one and an offline one are refused and still recorded', async () => {
    const { ctx, observed } = fakeContext();
    const unknown = browserExchange();
    admit(ctx, unknown, 'nobody');
    const offline = addTunnel(ctx, 'offline');
    offline.session.end('released');
    const refused = browserExchange();
    admit(ctx, refused, 'offline');
    const expired = addTunnel(ctx, 'expired');
    stopTunnel(ctx, expired, 'expired');
    const late = browserExchange();
    admit(ctx, late, 'expired');
    await tick();
    expect([unknown.status(), refused.status(), late.status()]).toEqual([503, 503, 503]);
    expect(late.socket.text).toContain('tunnel_expired');
    expect(observed.requests).toBe(3);
    expect(offline.counters).toMatchObject({ requests: 1, errors: 1, inFlight: 0 });
    expect(offline.recentRequests.list().length).toBe(1);
  });

  test('a refused upgrade is recorded like a refused request (metrics, counters, recent requests)', async () => {
    const { ctx, observed } = fakeContext();
    const offline = addTunnel(ctx, 'offline');
    offline.session.end('released');
    const socket = new FakeSocket();
    const req = incomingRequest(socket, 'GET', '/socket', { upgrade: 'websocket', connection: 'Upgrade' });
    serveUpgradeThroughTunnel(ctx, 'offline', req, socket, Buffer.alloc(0));
    await tick();
    expect(statusWritten(socket)).toBe(503);
    socket.destroy();
    await tick();
    expect(observed.requests).toBe(1);
    expect(offline.counters).toMatchObject({ requests: 1, errors: 1, inFlight: 0 });
    expect(offline.recentRequests.list()).toEqual([expect.objectContaining({ path: '/socket', status: 503, error: 'tunnel_offline' })]);
  });

  test('a full queue refuses with 503 queue_full', async () => {
    const { ctx } = fakeContext({ maxQueuedRequests: 1 });
    const tunnel = new Tunnel('t', null, REGISTRATION, Date.now() + 60_000, { pollTimeoutMs: 60_000, maxQueuedRequests: 1 }, ctx.handed);
    ctx.registry.add(tunnel);
    withIdlePoll(tunnel);
    admit(ctx, browserExchange());
    admit(ctx, browserExchange());
    const third = browserExchange();
    admit(ctx, third);
    await tick();
    expect(third.socket.text).toContain('queue_full');
    expect(tunnel.counters.inFlight).toBe(2);
  });
});

describe('the stop cascade', () => {
  test('stopping a tunnel fails its queued and handed requests and empties every index', async () => {
    const { ctx, observed } = fakeContext();
    const tunnel = addTunnel(ctx);
    const poll = withIdlePoll(tunnel);
    const handed = browserExchange('POST', '/upload', { 'content-length': '100' });
    admit(ctx, handed);
    const queued = browserExchange();
    admit(ctx, queued);
    expect(indexes(ctx, tunnel)).toEqual({ handed: 1, queued: 1, inFlight: 2 });
    stopTunnel(ctx, tunnel, 'expired');
    await tick();
    await tick();
    expect([handed.status(), queued.status()]).toEqual([503, 503]);
    expect(poll.destroyed).toBe(true);
    expect(indexes(ctx, tunnel)).toEqual({ handed: 0, queued: 0, inFlight: 0 });
    expect(tunnel.state).toBe('stopped');
    expect(observed.requests).toBe(2);
  });

  test('a poll whose connection closed before it reached the session is not held', () => {
    const { ctx } = fakeContext();
    const tunnel = addTunnel(ctx);
    const closedOnTheWay = pollAnswer();
    closedOnTheWay.destroy();
    tunnel.session.acceptPoll(closedOnTheWay);
    expect(tunnel.session.idlePollCount).toBe(0);
    // A request arriving now waits for a live poll instead of going down the dead one.
    const request = admit(ctx, browserExchange());
    expect(request.state).toBe('queued');
  });

  test('a new session takes over the queued requests of the one it replaces', () => {
    const { ctx } = fakeContext();
    const tunnel = addTunnel(ctx);
    withIdlePoll(tunnel);
    admit(ctx, browserExchange());
    const queued = browserExchange();
    const request = admit(ctx, queued);
    tunnel.startSession(REGISTRATION, Date.now() + 60_000, null);
    expect(tunnel.session.queuedCount).toBe(1);
    const poll = pollAnswer();
    tunnel.session.acceptPoll(poll);
    expect(request.state).toBe('handed');
    expect(request.sessionId).toBe(tunnel.session.id);
    expect(ctx.handed.get(request.id)).toBe(request);
  });
});

describe('ended sessions of forgotten tunnels', () => {
  test('are remembered for keepMs, then forgotten; the oldest go first beyond 10,000', () => {
    const ended = new EndedSessions(1_000);
    ended.remember('s1', 'stopped', 0);
    expect(ended.reasonOf('s1', 1_000)).toBe('stopped');
    expect(ended.reasonOf('s1', 1_001)).toBeUndefined();
    expect(ended.reasonOf(['s1', 's1'], 0)).toBeUndefined();
    for (let i = 0; i <= 10_000; i++) ended.remember(`many-${i}`, 'expired', 0);
    expect(ended.reasonOf('many-0', 0)).toBeUndefined();
    expect(ended.reasonOf('many-10000', 0)).toBe('expired');
  });
});
