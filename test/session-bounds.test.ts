/**
 * Bounds an outsider or a runaway client used to push past: polls per session (256, then 429
 * too_many_polls), upgrade handshakes waiting per source address (16 per tunnel, then 503
 * upgrade_limit, while another address still gets through), and "Test now", which starts at
 * most one probe per tunnel every few seconds (429 with Retry-After) and keeps manual checks out
 * of the scheduled health history.
 */

import http from 'node:http';
import net from 'node:net';
import { HEADER } from '#shared/protocol/headers';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import { eventually, httpRequest } from './helpers/http';
import { HostileClient } from './helpers/hostile-client';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(30_000);

let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess(['--poll-timeout', '4s', '--request-timeout', '10s']);
});

afterAll(async () => {
  await server?.stop();
});

afterEach(() => {
  expect(server.child.exitCode).toBeNull();
});

test('a session holds at most 256 polls; the next ones are answered 429 too_many_polls at once', async () => {
  const hostile = await HostileClient.register(server.url, 'many-polls');
  const statuses: number[] = [];
  const requests: http.ClientRequest[] = [];
  const answered = Array.from(
    { length: 270 },
    () =>
      new Promise<void>((resolve) => {
        const req = http.get(
          `${server.url}/_standin/v1/tunnels/many-polls/poll`,
          { agent: false, headers: { [HEADER.session]: hostile.sessionId, [HEADER.protocol]: String(PROTOCOL_VERSION) } },
          (res) => {
            statuses.push(res.statusCode ?? 0);
            res.resume();
            resolve();
          },
        );
        req.on('error', () => resolve());
        requests.push(req);
      }),
  );
  try {
    // The surplus is refused at once; the 256 held ones answer 204 only at the poll timeout (4 s).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(statuses.filter((status) => status === 429)).toHaveLength(14);
    expect(statuses.filter((status) => status !== 429)).toHaveLength(0);
  } finally {
    for (const req of requests) req.destroy();
    await Promise.all(answered);
    await hostile.close();
  }
});

/** Sends a WebSocket handshake from `localAddress`; resolves with what came back within `waitMs` ('' if nothing). */
function handshake(port: number, localAddress: string, sockets: net.Socket[], waitMs = 500): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    sockets.push(socket);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    setTimeout(() => resolve(text), waitMs);
  });
}

test('one source address may keep 16 handshakes waiting per tunnel; another address is still let through', async () => {
  // This client never polls: every handshake waits.
  const silent = await HostileClient.register(server.url, 'slow-handshakes');
  const sockets: net.Socket[] = [];
  try {
    const waiting = await Promise.all(Array.from({ length: 16 }, () => handshake(silent.port, '127.0.0.1', sockets)));
    expect(waiting.every((answer) => answer === '')).toBe(true);
    const refused = await handshake(silent.port, '127.0.0.1', sockets);
    expect(refused).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused).toMatch(/x-standin-error: upgrade_limit/i);
    expect(await handshake(silent.port, '127.0.0.2', sockets)).toBe('');
  } finally {
    for (const socket of sockets) socket.destroy();
    await silent.close();
  }
});

describe('Test now', () => {
  let app: LocalApp;
  let client: ClientProcess;

  beforeAll(async () => {
    app = await startLocalApp((_req, res) => res.end('ok'));
    client = await startClientProcess(String(app.port), server.url, ['--name', 'checked']);
  });

  afterAll(async () => {
    await client?.stop('SIGINT');
    await app?.close();
  });

  test('starts at most one probe every few seconds, refusing the rest with 429 and Retry-After, and keeps manual checks out of the history', async () => {
    type HealthView = { health: { status: string; lastCheckedAt: string | null; history: unknown[] } };
    const view = async () => JSON.parse((await httpRequest(`${server.url}/_standin/api/tunnels/checked`)).text) as HealthView;
    // The check every tunnel gets at its first poll is in the history; manual ones must not add to it.
    await eventually(async () => (await view()).health.history.length === 1, 10_000);
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 30; i++) {
      const response = await httpRequest(`${server.url}/_standin/api/tunnels/checked/check`, { method: 'POST' });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = String(response.headers['retry-after']);
    }
    expect(statuses[0]).toBe(200);
    expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(2);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(28);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const status = await view();
    expect(status.health.status).toBe('healthy');
    expect(status.health.lastCheckedAt).not.toBeNull();
    expect(status.health.history).toHaveLength(1);
  });
});
