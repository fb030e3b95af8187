/**
 * What the server takes from a browser and passes on, or writes back: the select redirect's
 * target is always a valid, same-site Location (a non-Latin-1 `to` used to end the process);
 * X-Forwarded-Host/-Proto count only from a trusted proxy (--trust-proxy) and only http/https as
 * proto; every X-Standin-* a browser sends is dropped; an absolute-form target reaches the app
 * in origin form; 100 Continue goes out only once a client took the request; and a throw in a
 * raw listener costs one request, not the server.
 */

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { createLogger } from '#shared/logger';
import { containRequestErrors } from '../server/listeners/contained-errors';
import { eventually, httpRequest, rawExchange } from './helpers/http';
import { startClosingApp, type ClosingApp } from './helpers/closing-app';
import { HostileClient } from './helpers/hostile-client';
import { echoHandler, startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(30_000);

let app: LocalApp;

beforeAll(async () => {
  app = await startLocalApp(echoHandler());
});

afterAll(async () => {
  await app?.close();
});

describe('with the default --trust-proxy (loopback trusted)', () => {
  let server: ServerProcess;
  let client: ClientProcess;

  beforeAll(async () => {
    server = await startServerProcess();
    client = await startClientProcess(String(app.port), server.url, ['--name', 'trusting', '--preserve-host']);
  });

  afterAll(async () => {
    await client?.stop('SIGINT');
    await server?.stop();
  });

  afterEach(() => {
    expect(server.child.exitCode).toBeNull();
  });

  test('a select link whose target is not Latin-1 redirects to it percent-encoded instead of ending the server', async () => {
    const response = await httpRequest(`${server.url}/_standin/select/anything?to=/%E3%80%82`);
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/%E3%80%82');
    // As a browser sends them: the query decodes to CR LF, `//`, `/\` and another origin.
    for (const bad of ['/%0d%0aSet-Cookie:%20x=1', '//evil.example/', '/%5Cevil.example', 'https://evil.example/']) {
      expect((await httpRequest(`${server.url}/_standin/select/anything?to=${bad}`)).status).toBe(400);
    }
    expect((await httpRequest(`${server.url}/_standin/healthz`)).status).toBe(200);
  });

  test("a trusted proxy's X-Forwarded-Host and https proto reach the app; a javascript: proto or a malformed host does not", async () => {
    const kept = JSON.parse(
      (
        await httpRequest(`${client.publicUrl}/kept`, {
          headers: { 'x-forwarded-host': 'shop.example.test', 'x-forwarded-proto': 'https' },
        })
      ).text,
    ) as { headers: Record<string, string> };
    expect(kept.headers['x-forwarded-host']).toBe('shop.example.test');
    expect(kept.headers['x-forwarded-proto']).toBe('https');
    const replaced = JSON.parse(
      (
        await httpRequest(`${client.publicUrl}/replaced`, {
          headers: { 'x-forwarded-host': 'evil host/x', 'x-forwarded-proto': 'javascript' },
        })
      ).text,
    ) as { headers: Record<string, string> };
    expect(replaced.headers['x-forwarded-host']).toBe(`127.0.0.1:${client.port}`);
    expect(replaced.headers['x-forwarded-proto']).toBe('http');
  });

  test('every X-Standin-* header a browser sends is dropped', async () => {
    const seen = JSON.parse(
      (
        await httpRequest(`${client.publicUrl}/spoof`, {
          headers: { 'x-standin-replay-of': 'x', 'x-standin-anything': 'y', 'x-standin-request-id': 'forged' },
        })
      ).text,
    ) as { headers: Record<string, string> };
    expect(seen.headers['x-standin-replay-of']).toBeUndefined();
    expect(seen.headers['x-standin-anything']).toBeUndefined();
    expect(seen.headers['x-standin-request-id']).not.toBe('forged');
  });

  test('an absolute-form request target reaches the app in origin form', async () => {
    // node:http sends `path` as the request target as it is: here in absolute form.
    const seen = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: client.port,
          path: 'http://public.example.test/some/path?q=1',
          headers: { host: 'public.example.test' },
          agent: false,
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect((JSON.parse(seen) as { url: string }).url).toBe('/some/path?q=1');
  });
});

describe('with --trust-proxy none', () => {
  let server: ServerProcess;
  let client: ClientProcess;

  beforeAll(async () => {
    server = await startServerProcess(['--trust-proxy', 'none']);
    client = await startClientProcess(String(app.port), server.url, ['--name', 'untrusting', '--preserve-host']);
  });

  afterAll(async () => {
    await client?.stop('SIGINT');
    await server?.stop();
  });

  test("a browser's X-Forwarded-Host and -Proto are replaced by standin's own", async () => {
    const seen = JSON.parse(
      (await httpRequest(`${client.publicUrl}/direct`, { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } }))
        .text,
    ) as { headers: Record<string, string> };
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${client.port}`);
    expect(seen.headers['x-forwarded-proto']).toBe('http');
  });
});

describe('Expect: 100-continue', () => {
  let server: ServerProcess;
  let hostile: HostileClient;

  beforeAll(async () => {
    server = await startServerProcess(['--poll-timeout', '1s', '--request-timeout', '5s']);
    hostile = await HostileClient.register(server.url, 'continue');
  });

  afterAll(async () => {
    await hostile?.close();
    await server?.stop();
  });

  test('100 Continue is sent only once a client has taken the request', async () => {
    const socket = net.connect(hostile.port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    try {
      socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      // Nobody polls yet: the browser is not invited to upload.
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(text).toBe('');
      const taken = hostile.nextRequest();
      await eventually(() => text.length > 0, 5_000, 50);
      expect(text).toBe('HTTP/1.1 100 Continue\r\n\r\n');
      socket.write('hello');
      const meta = await taken;
      expect(meta.headers.map((value) => value.toLowerCase())).not.toContain('expect');
      hostile.respond(meta.id, { status: 413, headers: ['Content-Length', '0'] });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(text).toMatch(/HTTP\/1\.1 413 /);
    } finally {
      socket.destroy();
    }
  });

  test('a request for an unknown tunnel is answered without asking for the body', async () => {
    const answer = await rawExchange(
      server.mainPort,
      'POST /upload HTTP/1.1\r\nHost: x\r\nX-Standin-Tunnel: nobody\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      2_000,
    );
    expect(answer).not.toMatch(/100 Continue/);
    expect(answer).toMatch(/^HTTP\/1\.1 (404|503) /);
  });
});

describe('an app (or a --fallback app) that closes a kept-alive connection as the next request arrives on it', () => {
  let closingApp: ClosingApp;
  let server: ServerProcess;
  let client: ClientProcess;

  beforeAll(async () => {
    closingApp = await startClosingApp();
    server = await startServerProcess(['--fallback', `http://127.0.0.1:${closingApp.port}`]);
    client = await startClientProcess(String(closingApp.port), server.url, ['--name', 'closing']);
  });

  afterAll(async () => {
    await client?.stop('SIGINT');
    await server?.stop();
    await closingApp?.close();
  });

  // Through the tunnel (the client's pool to the app), then through the fallback (the server's).
  const cases = [
    { via: 'a tunnel', base: () => client.publicUrl, postError: 'app_error' },
    { via: 'the fallback', base: () => server.url, postError: 'fallback_unreachable' },
  ];

  test.each(cases)('via $via, a GET is sent again on a new connection and answered, not failed with 502', async ({ base }) => {
    const closedBefore = closingApp.closedUnanswered();
    for (let i = 0; i < 5; i++) {
      const response = await httpRequest(`${base()}/page-${i}`);
      expect([response.status, response.text]).toEqual([200, 'ok']);
    }
    // The app did close kept-alive connections under the requests, and each GET was answered anyway.
    expect(closingApp.closedUnanswered()).toBeGreaterThan(closedBefore);
  });

  test.each(cases)(
    'via $via, a POST is not sent twice: it fails 502 $postError when the app closes under it',
    async ({ base, postError }) => {
      await httpRequest(`${base()}/warm`);
      const before = closingApp.seen.length;
      const response = await httpRequest(`${base()}/order`, { method: 'POST', body: 'buy one' });
      expect(response.status).toBe(502);
      expect(response.headers['x-standin-error']).toBe(postError);
      expect(closingApp.seen.slice(before)).toEqual(['POST /order HTTP/1.1']);
    },
  );
});

test('a throw in a raw request listener answers that request 500 and the server keeps serving', async () => {
  const logged: string[] = [];
  const stream = new PassThrough().on('data', (chunk: Buffer) => logged.push(chunk.toString()));
  const logger = createLogger({ format: 'json', level: 'error', stream });
  const server = http.createServer(
    containRequestErrors((req, res) => {
      if (req.url === '/throw') res.writeHead(200, { location: '/。' });
      res.end('fine');
    }, logger),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    expect((await httpRequest(`${base}/throw`)).status).toBe(500);
    expect((await httpRequest(`${base}/fine`)).text).toBe('fine');
    expect(logged.join('')).toMatch(/request handler failed/);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
