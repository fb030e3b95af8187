/**
 * Fault injection with the real processes on loopback: a frozen network, killed and restarted
 * servers and clients, a restarted local app, slow browsers, and a client restart under load.
 * Short --poll-timeout / --request-timeout keep every wait small; each test is bounded.
 * Measured recovery times are printed at the end (they go into the issue's closing note).
 */

import http from 'node:http';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { FreezeProxy } from './helpers/freeze-proxy';
import { eventually, httpRequest, type TestResponse } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import {
  spawnStandin,
  startClientProcess,
  startServerProcess,
  type ClientProcess,
  type ServerProcess,
  type StandinProcess,
} from './helpers/processes';

jest.setTimeout(60_000);

const POLL_TIMEOUT_MS = 2_000;
const REQUEST_TIMEOUT_MS = 5_000;
const SERVER_ARGS = ['--poll-timeout', `${POLL_TIMEOUT_MS}ms`, '--request-timeout', `${REQUEST_TIMEOUT_MS}ms`];

const measured: Record<string, string> = {};
const running: StandinProcess[] = [];
const apps: LocalApp[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((process) => process.stop('SIGKILL')));
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

afterAll(() => {
  console.log(
    `fault measurements:\n${Object.entries(measured)
      .map(([fault, value]) => `  ${fault}: ${value}`)
      .join('\n')}`,
  );
});

/** The local app of these tests: /marker/<m> answers <m>, /slow waits, everything else "ok". */
function faultApp(): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    req.resume();
    req.once('end', () => {
      if (url.pathname.startsWith('/marker/')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-marker': url.pathname.slice(8) });
        res.end(url.pathname.slice(8));
      } else if (url.pathname === '/slow') {
        setTimeout(() => res.end('slow done'), Number(url.searchParams.get('ms') ?? 1000));
      } else {
        res.end('ok');
      }
    });
  };
}

async function startApp(port = 0): Promise<LocalApp> {
  const app = await startLocalApp(faultApp(), port);
  apps.push(app);
  return app;
}

async function startServer(extraArgs: string[] = []): Promise<ServerProcess> {
  const server = await startServerProcess([...SERVER_ARGS, ...extraArgs]);
  running.push(server);
  return server;
}

/** Starts a server on the same main port and tunnel ports as `old` (which must be gone). */
async function restartServer(old: ServerProcess, extraArgs: string[] = []): Promise<ServerProcess> {
  const server = spawnStandin([
    'server',
    '--listen',
    String(old.mainPort),
    '--ports',
    `${old.portRange.from}-${old.portRange.to}`,
    '--log-level',
    'debug',
    ...SERVER_ARGS,
    ...extraArgs,
  ]);
  running.push(server);
  await server.waitForLine((line) => line.message === 'standin server listening', 15_000);
  return Object.assign(server, { mainPort: old.mainPort, url: old.url, portRange: old.portRange });
}

async function startClient(app: LocalApp, serverUrl: string, extraArgs: string[] = [], home?: string): Promise<ClientProcess> {
  const client = await startClientProcess(String(app.port), serverUrl, ['--name', 'faulty', ...extraArgs], { home });
  running.push(client);
  return client;
}

/** A request that never throws: a network failure comes back as status 0. */
async function tryRequest(url: string, timeoutMs = REQUEST_TIMEOUT_MS + 5_000): Promise<TestResponse & { ms: number }> {
  const startedAt = Date.now();
  try {
    return { ...(await httpRequest(url, { timeoutMs })), ms: Date.now() - startedAt };
  } catch (error) {
    return { status: 0, headers: {}, rawHeaders: [], body: Buffer.alloc(0), text: (error as Error).message, ms: Date.now() - startedAt };
  }
}

/** `promise`, or `fallback` after `ms` (the timer does not outlive the race). */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

test('a frozen network gives 503/504 within the request timeout, and the tunnel heals by itself after the thaw', async () => {
  const app = await startApp();
  const server = await startServer();
  const proxy = await new FreezeProxy(server.mainPort).start();
  try {
    const client = await startClient(app, proxy.url);
    expect((await tryRequest(`${client.publicUrl}/marker/before`)).text).toBe('before');

    proxy.freeze();
    const frozenAt = Date.now();
    const during = await tryRequest(`${client.publicUrl}/marker/during`);
    expect([503, 504]).toContain(during.status);
    expect(during.headers['x-standin-error']).toMatch(/^(tunnel_offline|timeout)$/);
    expect(during.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000);

    // Once the server has heard nothing for poll-timeout + 5 s it answers 503 at once.
    await eventually(
      async () => (await tryRequest(`${client.publicUrl}/marker/offline`)).headers['x-standin-error'] === 'tunnel_offline',
      15_000,
      250,
    );
    const offline = await tryRequest(`${client.publicUrl}/marker/offline`);
    expect(offline.status).toBe(503);
    expect(offline.ms).toBeLessThan(1_000);
    const offlineAfterMs = Date.now() - frozenAt;
    await client.waitForLine((line) => line.message === 'connection lost', 15_000);

    proxy.thaw();
    const thawedAt = Date.now();
    await eventually(async () => (await tryRequest(`${client.publicUrl}/marker/after`, 3_000)).text === 'after', 20_000, 250);
    measured['network frozen (no FIN/RST)'] =
      `first request ${during.status} ${String(during.headers['x-standin-error'])} after ${seconds(during.ms)}; 503 tunnel_offline at once from ${seconds(offlineAfterMs)} after the freeze; serving again ${seconds(Date.now() - thawedAt)} after the thaw`;
  } finally {
    await proxy.close();
  }
});

test('after a server SIGKILL and restart the client is back on the same port within 15 s', async () => {
  const app = await startApp();
  const server = await startServer();
  const client = await startClient(app, server.url);
  const port = client.port;
  await server.stop('SIGKILL');
  const during = await tryRequest(`${client.publicUrl}/marker/down`, 3_000);
  expect(during.status).toBe(0); // nothing listens on the tunnel port while the server is down

  const restarted = await restartServer(server);
  const listeningAt = Date.now();
  await client.waitForLine((line) => line.message === 'reconnected', 15_000);
  await eventually(
    async () => (await tryRequest(`http://127.0.0.1:${port}/marker/back`, 3_000)).text === 'back',
    15_000 - (Date.now() - listeningAt),
    100,
  );
  const recoveredMs = Date.now() - listeningAt;
  expect(recoveredMs).toBeLessThan(15_000);
  expect(client.lines.some((line) => line.message === 'connection lost' && typeof line.reason === 'string')).toBe(true);
  expect(client.lines.some((line) => line.message === 'reconnecting' && typeof line.inSeconds === 'number')).toBe(true);
  const reconnected = client.lines.find((line) => line.message === 'reconnected');
  expect(reconnected?.port).toBe(port);
  expect(typeof reconnected?.downSeconds).toBe('number');
  measured['server SIGKILL + restart'] =
    `tunnel port refuses connections while down; same port ${port} serving ${seconds(recoveredMs)} after the new server listens (client down ${String(reconnected?.downSeconds)} s)`;
  await restarted.stop('SIGKILL');
});

test('after a client SIGKILL the browser gets 503 tunnel_offline within 10 s, and a restarted client gets its old port', async () => {
  const app = await startApp();
  const server = await startServer();
  const client = await startClient(app, server.url);
  expect((await tryRequest(`${client.publicUrl}/marker/alive`)).text).toBe('alive');
  await client.stop('SIGKILL');
  const killedAt = Date.now();
  let answer = await tryRequest(`${client.publicUrl}/marker/gone`);
  while (answer.headers['x-standin-error'] !== 'tunnel_offline' && Date.now() - killedAt < 10_000)
    answer = await tryRequest(`${client.publicUrl}/marker/gone`);
  const offlineMs = Date.now() - killedAt;
  expect(answer.status).toBe(503);
  expect(answer.headers['x-standin-error']).toBe('tunnel_offline');
  expect(offlineMs).toBeLessThan(10_000);

  const restarted = await startClient(app, server.url, [], client.home);
  expect(restarted.port).toBe(client.port);
  expect((await tryRequest(`${restarted.publicUrl}/marker/again`)).text).toBe('again');
  measured['client SIGKILL'] =
    `503 tunnel_offline ${seconds(offlineMs)} after the kill (first request: ${answer.ms} ms); restarted client without --port got its old port ${restarted.port}`;
});

test('a local app restarted mid-traffic gives 502 while it is down and normal answers after', async () => {
  const app = await startApp();
  const server = await startServer();
  const client = await startClient(app, server.url);
  expect((await tryRequest(`${client.publicUrl}/marker/up`)).status).toBe(200);
  await app.close();
  apps.splice(apps.indexOf(app), 1);
  const down = await tryRequest(`${client.publicUrl}/marker/down`);
  expect(down.status).toBe(502);
  expect(down.headers['x-standin-error']).toBe('app_unreachable');
  const restartedAt = Date.now();
  await startApp(app.port);
  await eventually(async () => (await tryRequest(`${client.publicUrl}/marker/up-again`)).text === 'up-again', 10_000, 100);
  measured['local app restarted'] =
    `502 app_unreachable in ${down.ms} ms while down; 200 ${Date.now() - restartedAt} ms after it listens again`;
});

test('slowloris headers and a trickling upload do not block other requests, and the slow head is cut', async () => {
  const app = await startApp();
  const server = await startServer(['--headers-timeout', '3s']);
  const client = await startClient(app, server.url);
  const port = client.port;

  const slowloris = net.connect(port, '127.0.0.1');
  slowloris.write('GET /marker/loris HTTP/1.1\r\nHost: x\r\n');
  const lorisTimer = setInterval(() => slowloris.write(`X-Drip-${Date.now()}: 1\r\n`), 500);
  const lorisClosed = new Promise<{ text: string; ms: number }>((resolve) => {
    const openedAt = Date.now();
    let text = '';
    slowloris.on('data', (chunk) => (text += chunk.toString()));
    slowloris.on('error', () => undefined);
    slowloris.once('close', () => resolve({ text, ms: Date.now() - openedAt }));
  });

  const upload = http.request(`${client.publicUrl}/marker/upload`, { method: 'POST', agent: false, headers: { 'content-length': '100' } });
  upload.on('error', () => undefined);
  upload.write('x');
  const uploadTimer = setInterval(() => upload.write('x'), 500);

  try {
    const startedAt = Date.now();
    const others = await Promise.all(Array.from({ length: 20 }, (_, index) => tryRequest(`${client.publicUrl}/marker/other-${index}`)));
    expect(others.map((response) => response.text)).toEqual(Array.from({ length: 20 }, (_, index) => `other-${index}`));
    const othersMs = Date.now() - startedAt;
    expect(othersMs).toBeLessThan(3_000);
    const loris = await within(lorisClosed, 10_000, { text: 'slowloris not cut within 10 s', ms: 10_000 });
    expect(loris.text).toMatch(/^HTTP\/1\.1 408/);
    measured['slowloris + slow upload'] =
      `20 other requests answered in ${othersMs} ms meanwhile; slow head cut with 408 after ${seconds(loris.ms)} (--headers-timeout 3s)`;
  } finally {
    clearInterval(lorisTimer);
    clearInterval(uploadTimer);
    slowloris.destroy();
    upload.destroy();
  }
});

test('past --max-in-flight a tunnel answers 503 queue_full at once, and idle connections are closed after --idle-timeout', async () => {
  const app = await startApp();
  const server = await startServer(['--max-in-flight', '3', '--idle-timeout', '2s']);
  const client = await startClient(app, server.url);
  const answers = await Promise.all(Array.from({ length: 5 }, () => tryRequest(`${client.publicUrl}/slow?ms=1500`)));
  const statuses = answers.map((answer) => answer.status).sort();
  expect(statuses).toEqual([200, 200, 200, 503, 503]);
  const refused = answers.filter((answer) => answer.status === 503);
  expect(refused.every((answer) => answer.headers['x-standin-error'] === 'queue_full' && answer.ms < 1_000)).toBe(true);

  const idle = net.connect(client.port, '127.0.0.1');
  idle.on('error', () => undefined);
  const openedAt = Date.now();
  const closedAfterMs = await within(
    new Promise<number>((resolve) => idle.once('close', () => resolve(Date.now() - openedAt))),
    8_000,
    Infinity,
  );
  idle.destroy();
  expect(closedAfterMs).toBeGreaterThanOrEqual(1_500);
  expect(closedAfterMs).toBeLessThan(8_000);
  measured['over --max-in-flight / idle connection'] =
    `503 queue_full in ${Math.max(...refused.map((answer) => answer.ms))} ms; idle connection closed after ${seconds(closedAfterMs)} (--idle-timeout 2s)`;
});

test('2,000 requests at concurrency 50 across a client restart each end with their own answer or a clear standin error', async () => {
  const app = await startApp();
  const server = await startServer();
  const first = await startClient(app, server.url, ['--concurrency', '16']);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const total = 2_000;
  let next = 0;
  let completed = 0;
  let restartedAt = Infinity;
  let restart: Promise<void> | undefined;
  const outcomes: {
    marker: string;
    status: number;
    marker2: string;
    error: string | undefined;
    ms: number;
    startedAt: number;
    requestId: string | undefined;
  }[] = [];

  const one = (marker: string) =>
    new Promise<(typeof outcomes)[number]>((resolve) => {
      const startedAt = Date.now();
      const req = http.get(`${first.publicUrl}/marker/${marker}`, { agent }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            marker,
            status: res.statusCode ?? 0,
            marker2: res.statusCode === 200 ? text : '',
            error: res.headers['x-standin-error'] as string | undefined,
            ms: Date.now() - startedAt,
            startedAt,
            requestId: res.headers['x-standin-request-id'] as string | undefined,
          }),
        );
        res.on('error', () =>
          resolve({
            marker,
            status: -1,
            marker2: '',
            error: 'response broke',
            ms: Date.now() - startedAt,
            startedAt,
            requestId: undefined,
          }),
        );
      });
      req.setTimeout(REQUEST_TIMEOUT_MS + 5_000, () => req.destroy(new Error('hung')));
      req.on('error', (error) =>
        resolve({ marker, status: 0, marker2: '', error: error.message, ms: Date.now() - startedAt, startedAt, requestId: undefined }),
      );
    });

  const worker = async () => {
    while (next < total) {
      next++;
      const outcome = await one(randomUUID());
      outcomes.push(outcome);
      completed++;
      if (completed === total / 2 && !restart) {
        restart = (async () => {
          await first.stop('SIGKILL');
          const second = await startClient(app, server.url, ['--concurrency', '16'], first.home);
          expect(second.port).toBe(first.port);
          restartedAt = Date.now();
        })();
      }
      // Pace the load so that it spans the restart instead of finishing inside it (errors come
      // back at once, so back off after one, as a browser user would).
      await new Promise((resolve) => setTimeout(resolve, outcome.status === 200 ? 40 : 500));
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  await restart;
  agent.destroy();

  expect(outcomes).toHaveLength(total);
  const answered = outcomes.filter((outcome) => outcome.status === 200);
  const failed = outcomes.filter((outcome) => outcome.status !== 200);
  // Every 200 carries its own marker: no response went to another request.
  expect(answered.filter((outcome) => outcome.marker2 !== outcome.marker)).toEqual([]);
  // Every other answer is a clear standin error, in time; nothing hung or broke.
  expect(failed.filter((outcome) => !['tunnel_offline', 'timeout', 'queue_full'].includes(outcome.error ?? ''))).toEqual([]);
  expect(Math.max(...outcomes.map((outcome) => outcome.ms))).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000);
  expect(new Set(outcomes.map((outcome) => outcome.requestId)).size).toBe(total);
  // The restarted client really served part of the load.
  expect(answered.filter((outcome) => outcome.startedAt > restartedAt).length).toBeGreaterThan(100);
  const byError = failed.reduce<Record<string, number>>(
    (counts, outcome) => ({ ...counts, [outcome.error ?? '?']: (counts[outcome.error ?? '?'] ?? 0) + 1 }),
    {},
  );
  measured['client SIGKILL + restart under 2,000 requests at concurrency 50'] =
    `${answered.length} answered by the app (all with their own marker), ${JSON.stringify(byError)} standin errors, 0 hung; slowest ${outcomes.reduce((max, o) => Math.max(max, o.ms), 0)} ms`;
});

test('server SIGTERM drains: readyz 503, in-flight requests finish, clients told to reconnect, exit 0', async () => {
  const app = await startApp();
  const server = await startServer(['--shutdown-grace', '10s']);
  const client = await startClient(app, server.url);
  expect((await httpRequest(`${server.url}/_standin/readyz`)).status).toBe(200);

  const inFlight = tryRequest(`${client.publicUrl}/slow?ms=2000`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  server.child.kill('SIGTERM');
  const termAt = Date.now();
  await server.waitForLine((line) => line.message === 'draining', 5_000);
  const readyz = await tryRequest(`${server.url}/_standin/readyz`, 2_000);
  expect(readyz.status).toBe(503);
  const refused = await tryRequest(`${client.publicUrl}/marker/new`, 2_000);
  expect(refused.status === 0 || refused.headers['x-standin-error'] === 'tunnel_offline').toBe(true);

  const finished = await inFlight;
  expect(finished.status).toBe(200);
  expect(finished.text).toBe('slow done');
  expect(await server.exitedWithin()).toBe(0);
  const exitedMs = Date.now() - termAt;
  const lost = await client.waitForLine((line) => line.message === 'connection lost', 5_000);
  expect(lost.code).toBe('server_shutdown');

  const restarted = await restartServer(server);
  const listeningAt = Date.now();
  await eventually(async () => (await tryRequest(`${client.publicUrl}/marker/back`, 3_000)).text === 'back', 10_000, 100);
  measured['server SIGTERM (graceful)'] =
    `readyz 503 and new requests refused at once; in-flight 2 s request finished 200; exit 0 after ${seconds(exitedMs)}; client told server_shutdown and serving ${seconds(Date.now() - listeningAt)} after a new server listens`;
  await restarted.stop('SIGKILL');
});

test('client SIGINT finishes in-flight requests, releases the tunnel and exits 0', async () => {
  const app = await startApp();
  const server = await startServer();
  const client = await startClient(app, server.url);
  const inFlight = tryRequest(`${client.publicUrl}/slow?ms=1500`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const code = client.stop('SIGINT');
  const finished = await inFlight;
  expect(finished.status).toBe(200);
  expect(await code).toBe(0);
  const after = await tryRequest(`${client.publicUrl}/marker/released`);
  expect(after.status).toBe(503);
  expect(after.headers['x-standin-error']).toBe('tunnel_offline');
  measured['client SIGINT'] = `in-flight request finished 200; exit 0; then 503 tunnel_offline in ${after.ms} ms`;
});

test('a client started before its server waits with backoff and connects once the server listens', async () => {
  const app = await startApp();
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const mainPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const from = 20_000 + Math.floor(Math.random() * 400) * 100;
  const clientReady = startClient(app, `http://127.0.0.1:${mainPort}`);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const server = spawnStandin(['server', '--listen', String(mainPort), '--ports', `${from}-${from + 9}`, ...SERVER_ARGS]);
  running.push(server);
  await server.waitForLine((line) => line.message === 'standin server listening', 15_000);
  const client = await clientReady;
  expect(client.lines.some((line) => line.message === 'server not reachable yet' && line.reason === 'the server is not listening')).toBe(
    true,
  );
  expect((await tryRequest(`${client.publicUrl}/marker/late`)).text).toBe('late');
});

test('with --no-reconnect a lost connection exits 1', async () => {
  const app = await startApp();
  const server = await startServer();
  const client = await startClient(app, server.url, ['--no-reconnect']);
  await server.stop('SIGKILL');
  const code = await within(client.exited, 10_000, 'still running');
  expect(code).toBe(1);
  expect(client.lines.some((line) => line.message === 'connection lost')).toBe(true);
  expect(client.lines.some((line) => line.message === 'reconnecting')).toBe(false);
});

test('a token refused while reconnecting exits 3 without retrying', async () => {
  const app = await startApp();
  const server = await startServer(['--token', 'first-secret']);
  const client = await startClient(app, server.url, ['--token', 'first-secret']);
  await server.stop('SIGKILL');
  const restarted = await restartServer(server, ['--token', 'second-secret']);
  const code = await within(client.exited, 15_000, 'still running');
  expect(code).toBe(3);
  expect(client.lines.some((line) => line.message === 'authentication refused')).toBe(true);
  // Tokens never reach a log line or an error message, on either side.
  const everything = [client, server, restarted]
    .map((process) => process.lines.map((line) => JSON.stringify(line)).join('\n') + process.stderr.join(''))
    .join('\n');
  expect(everything).not.toContain('first-secret');
  expect(everything).not.toContain('second-secret');
});
