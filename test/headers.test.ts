/** docs/design.md "Trace headers": what the app receives and what the browser gets back. */

import http from 'node:http';
import net from 'node:net';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let preservingClient: ClientProcess;
let lastRequest: { rawHeaders: string[]; headers: http.IncomingHttpHeaders } | undefined;

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    lastRequest = { rawHeaders: req.rawHeaders, headers: req.headers };
    const url = new URL(req.url ?? '/', 'http://app');
    if (url.pathname === '/redirect') {
      res.writeHead(302, { Location: `http://localhost:${app.port}/after?x=1` });
      return void res.end();
    }
    if (url.pathname === '/redirect-elsewhere') {
      res.writeHead(302, { Location: 'https://example.com/login' });
      return void res.end();
    }
    // Mixed case, duplicates and a hop-by-hop header from the app.
    res.setHeader('X-Custom-CASE', 'kept');
    res.setHeader('Set-Cookie', ['session=abc; HttpOnly', 'theme=dark']);
    res.setHeader('Keep-Alive', 'timeout=99');
    res.setHeader('Connection', 'keep-alive, X-Drop-Me');
    res.setHeader('X-Drop-Me', 'hop-by-hop by Connection');
    res.end('ok');
  });
  server = await startServerProcess();
  client = await startClientProcess(String(app.port), server.url, ['--name', 'headers']);
  preservingClient = await startClientProcess(`http://127.0.0.1:${app.port}`, server.url, [
    '--name',
    'headers-preserve',
    '--preserve-host',
  ]);
});

afterAll(async () => {
  await Promise.all([client?.stop('SIGINT'), preservingClient?.stop('SIGINT')]);
  await server?.stop();
  await app?.close();
});

async function appHeadersFor(url: string, headers: http.OutgoingHttpHeaders = {}) {
  lastRequest = undefined;
  const response = await httpRequest(url, { headers });
  expect(lastRequest).toBeDefined();
  return { response, received: lastRequest! };
}

test('the app gets request ids, forwarding headers, Via and a new traceparent', async () => {
  const { response, received } = await appHeadersFor(`${client.publicUrl}/page`);
  const requestId = response.headers['x-standin-request-id'];
  expect(received.headers['x-standin-request-id']).toBe(requestId);
  expect(received.headers['x-request-id']).toBe(requestId);
  expect(received.headers['x-standin-tunnel']).toBe('headers');
  expect(received.headers['x-forwarded-for']).toBe('127.0.0.1');
  expect(received.headers['x-forwarded-host']).toBe(`127.0.0.1:${client.port}`);
  expect(received.headers['x-forwarded-proto']).toBe('http');
  expect(received.headers.via).toBe('1.1 standin');
  expect(received.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
});

test('a traceparent from the browser is continued: same trace id and flags, new parent id', async () => {
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
  const { received } = await appHeadersFor(`${client.publicUrl}/`, { traceparent: incoming });
  const [version, traceId, parentId, flags] = String(received.headers.traceparent).split('-');
  expect([version, traceId, flags]).toEqual(['00', '4bf92f3577b34da6a3ce929d0e0e4736', '00']);
  expect(parentId).not.toBe('00f067aa0ba902b7');
});

test('a safe X-Request-Id from the browser is kept; an unsafe one is replaced by the standin id', async () => {
  const kept = await appHeadersFor(`${client.publicUrl}/`, { 'x-request-id': 'abc-123' });
  expect(kept.received.headers['x-request-id']).toBe('abc-123');
  const replaced = await appHeadersFor(`${client.publicUrl}/`, { 'x-request-id': 'evil value <script>' });
  expect(replaced.received.headers['x-request-id']).toBe(replaced.response.headers['x-standin-request-id']);
});

test('existing X-Forwarded-* and Via from the cluster proxy are extended, not replaced', async () => {
  const { received } = await appHeadersFor(`${client.publicUrl}/`, {
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-host': 'shop.example.com',
    'x-forwarded-proto': 'https',
    via: '1.1 ingress',
  });
  expect(received.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
  expect(received.headers['x-forwarded-host']).toBe('shop.example.com');
  expect(received.headers['x-forwarded-proto']).toBe('https');
  expect(received.headers.via).toBe('1.1 ingress, 1.1 standin');
});

test('hop-by-hop headers and spoofed X-Standin-* headers never reach the app', async () => {
  const received = await rawRequestHeaders(client.port, [
    'GET / HTTP/1.1',
    `Host: 127.0.0.1:${client.port}`,
    'Connection: keep-alive, X-Secret-Hop',
    'Keep-Alive: timeout=5',
    'X-Secret-Hop: 1',
    'TE: trailers',
    'Proxy-Authorization: Basic Zm9vOmJhcg==',
    'X-Standin-Request-Id: forged',
    'X-Standin-Tunnel: forged',
    'X-Kept: yes',
  ]);
  const names = received.rawHeaders.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase());
  for (const dropped of ['keep-alive', 'x-secret-hop', 'te', 'proxy-authorization']) expect(names).not.toContain(dropped);
  expect(received.headers['x-standin-request-id']).not.toBe('forged');
  expect(received.headers['x-standin-tunnel']).toBe('headers');
  expect(received.headers['x-kept']).toBe('yes');
});

test('header case and order from the browser are preserved', async () => {
  const received = await rawRequestHeaders(client.port, [
    'GET / HTTP/1.1',
    `Host: 127.0.0.1:${client.port}`,
    'X-MiXeD-Case: 1',
    'accept: */*',
  ]);
  expect(received.rawHeaders).toContain('X-MiXeD-Case');
});

test('Host is rewritten to the target by default, with the original in X-Forwarded-Host', async () => {
  const { received } = await appHeadersFor(`${client.publicUrl}/`);
  expect(received.headers.host).toBe(`localhost:${app.port}`);
  expect(received.headers['x-forwarded-host']).toBe(`127.0.0.1:${client.port}`);
});

test('--preserve-host sends the browser Host to the app', async () => {
  const { received } = await appHeadersFor(`${preservingClient.publicUrl}/`);
  expect(received.headers.host).toBe(`127.0.0.1:${preservingClient.port}`);
});

test('the browser gets several Set-Cookie, header case, Server-Timing and the request id; no hop-by-hop', async () => {
  const response = await httpRequest(`${client.publicUrl}/`);
  const setCookies = response.rawHeaders.filter((_, index) => index > 0 && response.rawHeaders[index - 1].toLowerCase() === 'set-cookie');
  expect(setCookies).toEqual(['session=abc; HttpOnly', 'theme=dark']);
  expect(response.rawHeaders).toContain('X-Custom-CASE');
  expect(response.headers['x-drop-me']).toBeUndefined();
  expect(response.headers['keep-alive']).not.toBe('timeout=99');
  expect(response.headers['server-timing']).toMatch(
    /queue;dur=[\d.]+;desc="waiting for a poll", app;dur=[\d.]+;desc="local app", total;dur=[\d.]+/,
  );
  expect(response.headers['x-standin-request-id']).toMatch(/^[0-9a-f-]{36}$/);
});

test('a Location pointing at the local target is rewritten to the public origin; others are left alone', async () => {
  const rewritten = await httpRequest(`${client.publicUrl}/redirect`);
  expect(rewritten.status).toBe(302);
  expect(rewritten.headers.location).toBe(`http://127.0.0.1:${client.port}/after?x=1`);
  const behindProxy = await httpRequest(`${client.publicUrl}/redirect`, {
    headers: { 'x-forwarded-host': 'shop.example.com', 'x-forwarded-proto': 'https' },
  });
  expect(behindProxy.headers.location).toBe('https://shop.example.com/after?x=1');
  const elsewhere = await httpRequest(`${client.publicUrl}/redirect-elsewhere`);
  expect(elsewhere.headers.location).toBe('https://example.com/login');
});

/** Sends a hand-written request head on a raw socket and returns what the app received. */
async function rawRequestHeaders(port: number, lines: string[]) {
  lastRequest = undefined;
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`));
    socket.on('data', () => undefined);
    socket.on('end', () => resolve());
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')));
  });
  expect(lastRequest).toBeDefined();
  return lastRequest!;
}
