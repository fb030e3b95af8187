/**
 * Selector mode on the main port, over plain HTTP: a real `standin server --fallback <cluster
 * app>`, a real `standin connect` to a developer's local app, and requests that select the
 * tunnel by header, cookie or host, or select nothing and reach the cluster app.
 */

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { sendFiveEvents, startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { freePort } from './helpers/nginx';
import { spawnStandin, startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

const MiB = 1024 * 1024;

let laptopApp: LocalApp;
let clusterApp: LocalApp;
let clusterConnections = 0;
let server: ServerProcess;
let alice: ClientProcess;

beforeAll(async () => {
  laptopApp = await startLocalApp(appThatSays('laptop'));
  clusterApp = await startLocalApp(appThatSays('cluster'));
  clusterApp.server.on('connection', () => clusterConnections++);
  server = await startServerProcess(['--fallback', clusterApp.url]);
  alice = await startClientProcess(String(laptopApp.port), server.url, ['--name', 'alice']);
});

afterAll(async () => {
  await alice?.stop('SIGINT');
  await server?.stop();
  await laptopApp?.close();
  await clusterApp?.close();
});

describe('selecting a tunnel on the main port', () => {
  test('the X-Standin-Tunnel header sends the request to that tunnel, and the response names it', async () => {
    const response = await httpRequest(`${server.url}/shop/cart`, { headers: { 'x-standin-tunnel': 'alice' } });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toMatchObject({ from: 'laptop', url: '/shop/cart' });
    expect(response.headers['x-standin-tunnel']).toBe('alice');
    expect(response.headers['x-standin-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('the standin-tunnel cookie sends the request to that tunnel', async () => {
    const response = await httpRequest(`${server.url}/shop/`, { headers: { cookie: 'theme=dark; standin-tunnel=alice; other=1' } });
    expect(JSON.parse(response.text).from).toBe('laptop');
    expect(response.headers['x-standin-tunnel']).toBe('alice');
  });

  test('a host whose first label names a registered tunnel selects it', async () => {
    const response = await httpRequest(`${server.url}/shop/`, { headers: { host: 'alice.shop.example.test' } });
    expect(JSON.parse(response.text).from).toBe('laptop');
    expect(response.headers['x-standin-tunnel']).toBe('alice');
  });

  test('a host whose first label is no tunnel (www.…) selects nothing and reaches the cluster app', async () => {
    const response = await httpRequest(`${server.url}/shop/`, { headers: { host: 'www.shop.example.test' } });
    const body = JSON.parse(response.text);
    expect(body.from).toBe('cluster');
    // The browser's Host reaches the cluster app unchanged, as from an ingress.
    expect(body.headers.host).toBe('www.shop.example.test');
    expect(response.headers['x-standin-tunnel']).toBeUndefined();
  });

  test('the header wins over the cookie', async () => {
    const response = await httpRequest(`${server.url}/shop/`, {
      headers: { 'x-standin-tunnel': 'nobody-here', cookie: 'standin-tunnel=alice' },
    });
    expect(JSON.parse(response.text).from).toBe('cluster');
    const back = await httpRequest(`${server.url}/shop/`, {
      headers: { 'x-standin-tunnel': 'alice', cookie: 'standin-tunnel=nobody-here' },
    });
    expect(JSON.parse(back.text).from).toBe('laptop');
  });

  test('the cookie wins over the host', async () => {
    const response = await httpRequest(`${server.url}/shop/`, {
      headers: { host: 'alice.shop.example.test', cookie: 'standin-tunnel=nobody-here' },
    });
    expect(JSON.parse(response.text).from).toBe('cluster');
  });

  test('port mode keeps working next to selector mode', async () => {
    const response = await httpRequest(`${alice.publicUrl}/shop/`);
    expect(JSON.parse(response.text).from).toBe('laptop');
    expect(response.headers['x-standin-tunnel']).toBe('alice');
  });
});

describe('the fallback', () => {
  test('a request that selects nothing reaches the cluster app with trace headers and without hop-by-hop ones', async () => {
    const response = await httpRequest(`${server.url}/shop/items?page=2`, {
      headers: {
        connection: 'keep-alive, x-hop',
        'x-hop': 'secret-for-the-next-hop',
        'x-correlation-id': 'corr-7',
        'x-standin-request-id': 'spoofed',
      },
    });
    expect(response.status).toBe(200);
    const body = JSON.parse(response.text);
    expect(body).toMatchObject({ from: 'cluster', method: 'GET', url: '/shop/items?page=2' });
    const requestId = response.headers['x-standin-request-id'];
    expect(requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
    expect(body.headers['x-standin-request-id']).toBe(requestId);
    expect(body.headers['x-request-id']).toBe(requestId);
    expect(body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(body.headers['x-forwarded-proto']).toBe('http');
    expect(body.headers.via).toBe('1.1 standin');
    expect(body.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(body.headers['x-hop']).toBeUndefined();
    expect(body.headers['x-standin-tunnel']).toBeUndefined();
    expect(response.headers['x-standin-tunnel']).toBeUndefined();
    // Query strings stay out of logs unless --log-query.
    const logged = await server.waitForLine((line) => line.message === 'forwarded to fallback' && line.requestId === requestId);
    expect(logged).toMatchObject({ fallback: 'no_selector', method: 'GET', path: '/shop/items', status: 200, correlationId: 'corr-7' });
  });

  test('a tunnel that is not registered falls back to the cluster app', async () => {
    const response = await httpRequest(`${server.url}/shop/`, { headers: { 'x-standin-tunnel': 'carol' } });
    expect(JSON.parse(response.text).from).toBe('cluster');
    const requestId = response.headers['x-standin-request-id'];
    await server.waitForLine(
      (line) =>
        line.message === 'forwarded to fallback' &&
        line.requestId === requestId &&
        line.fallback === 'unknown_tunnel' &&
        line.tunnel === 'carol',
    );
  });

  test('a tunnel whose client has gone falls back to the cluster app', async () => {
    const bob = await startClientProcess(String(laptopApp.port), server.url, ['--name', 'bob']);
    const online = await httpRequest(`${server.url}/shop/`, { headers: { cookie: 'standin-tunnel=bob' } });
    expect(JSON.parse(online.text).from).toBe('laptop');
    await bob.stop('SIGINT');
    const offline = await httpRequest(`${server.url}/shop/`, { headers: { cookie: 'standin-tunnel=bob' } });
    expect(JSON.parse(offline.text).from).toBe('cluster');
    const requestId = offline.headers['x-standin-request-id'];
    await server.waitForLine(
      (line) => line.message === 'forwarded to fallback' && line.requestId === requestId && line.fallback === 'tunnel_offline',
    );
  });

  test('a 48 MiB upload streams to the cluster app and back intact', async () => {
    const upload = randomBytes(48 * MiB);
    const response = await httpRequest(`${server.url}/echo-body`, { method: 'POST', body: upload, timeoutMs: 40_000 });
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(upload.length);
    expect(sha256(response.body)).toBe(sha256(upload));
  });

  test('server-sent events from the cluster app arrive one by one', async () => {
    const arrivals = await new Promise<number[]>((resolve, reject) => {
      const times: number[] = [];
      const req = http.get(`${server.url}/events`, { agent: false }, (res) => {
        res.on('data', () => times.push(Date.now()));
        res.on('end', () => resolve(times));
      });
      req.setTimeout(15_000, () => req.destroy(new Error('events timed out')));
      req.on('error', reject);
    });
    // Five events 150 ms apart; a buffering proxy would deliver them in one or two chunks.
    expect(arrivals.length).toBeGreaterThanOrEqual(4);
    expect(arrivals[arrivals.length - 1] - arrivals[0]).toBeGreaterThanOrEqual(450);
  });

  test('connections to the cluster app are kept alive and reused', async () => {
    const before = clusterConnections;
    for (let i = 0; i < 20; i++) {
      const response = await httpRequest(`${server.url}/shop/`);
      expect(JSON.parse(response.text).from).toBe('cluster');
    }
    expect(clusterConnections - before).toBeLessThanOrEqual(3);
  });

  test('an absolute-form request target never makes the server contact the host it names', async () => {
    let bystanderHits = 0;
    const bystander = await startLocalApp((_req, res) => {
      bystanderHits++;
      res.end('bystander');
    });
    try {
      const head = await rawRequest(
        server.mainPort,
        `GET http://127.0.0.1:${bystander.port}/steal?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${bystander.port}\r\nConnection: close\r\n\r\n`,
      );
      expect(head).toContain('"from":"cluster"');
      expect(head).toContain('"url":"/steal?x=1"');
      expect(bystanderHits).toBe(0);
    } finally {
      await bystander.close();
    }
  });
});

describe('the select endpoint', () => {
  test('GET /_standin/select/<name> sets the cookie and redirects to /', async () => {
    const response = await httpRequest(`${server.url}/_standin/select/alice`);
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/');
    const cookie = response.headers['set-cookie']?.[0] ?? '';
    expect(cookie).toMatch(/^standin-tunnel=alice; /);
    expect(cookie).toContain('Path=/');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toMatch(/Max-Age=\d+/);
    expect(cookie).not.toContain('Secure');
  });

  test('the cookie is Secure when the proxy says the browser came over https', async () => {
    const response = await httpRequest(`${server.url}/_standin/select/alice`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(response.headers['set-cookie']?.[0]).toContain('; Secure');
  });

  test('?to= redirects to a path on the same site', async () => {
    const response = await httpRequest(`${server.url}/_standin/select/alice?to=${encodeURIComponent('/shop/?tab=2')}`);
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/shop/?tab=2');
  });

  test.each([
    '//evil.example/',
    '/\\evil.example/',
    'https://evil.example/',
    'evil.example',
    'javascript:alert(1)',
    '/ok\r\nSet-Cookie: x=1',
  ])('?to=%j is refused with 400 and sets no cookie', async (to) => {
    const response = await httpRequest(`${server.url}/_standin/select/alice?to=${encodeURIComponent(to)}`);
    expect(response.status).toBe(400);
    expect(response.headers.location).toBeUndefined();
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(JSON.parse(response.text)).toMatchObject({ error: 'bad_request' });
  });

  test('a name that is not a DNS label is refused with 400', async () => {
    const response = await httpRequest(`${server.url}/_standin/select/Bad_Name!`);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).message).toContain('is not a tunnel name');
  });

  test('/_standin/select/none clears the cookie', async () => {
    const response = await httpRequest(`${server.url}/_standin/select/none?to=/shop/`);
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/shop/');
    expect(response.headers['set-cookie']?.[0]).toMatch(/^standin-tunnel=; Path=\/; Max-Age=0/);
  });

  test('POST is not allowed', async () => {
    const response = await httpRequest(`${server.url}/_standin/select/alice`, { method: 'POST' });
    expect(response.status).toBe(405);
  });

  test('no tunnel may register as "none", the name that clears the selection', async () => {
    const response = await httpRequest(`${server.url}/_standin/v1/tunnels`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'none', target: 'http://127.0.0.1:1' }),
    });
    expect(response.status).toBe(400);
    expect(response.text).toContain('reserved');
  });
});

describe('without a working fallback', () => {
  test('an unreachable fallback gives 502 fallback_unreachable with a standin page', async () => {
    const closedPort = await freePort();
    const lonely = await startServerProcess(['--fallback', `http://127.0.0.1:${closedPort}`]);
    try {
      const response = await httpRequest(`${lonely.url}/shop/`, { headers: { accept: 'text/html' } });
      expect(response.status).toBe(502);
      expect(response.headers['x-standin-error']).toBe('fallback_unreachable');
      expect(response.headers['content-type']).toContain('text/html');
      expect(response.text).toContain('The cluster app behind standin is not reachable');
      const requestId = response.headers['x-standin-request-id'];
      await lonely.waitForLine(
        (line) =>
          line.message === 'standin answered with an error' && line.requestId === requestId && line.error === 'fallback_unreachable',
      );
    } finally {
      await lonely.stop();
    }
  });

  test('a fallback that sends no response head within --request-timeout gives 504 timeout', async () => {
    const impatient = await startServerProcess(['--fallback', clusterApp.url, '--request-timeout', '1s']);
    try {
      const started = Date.now();
      const response = await httpRequest(`${impatient.url}/hang`, { headers: { accept: 'application/json' } });
      expect(response.status).toBe(504);
      expect(JSON.parse(response.text)).toMatchObject({ error: 'timeout' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      await impatient.stop();
    }
  });

  test('with no --fallback an unselected request gets 404 no_tunnel saying how to select a tunnel', async () => {
    const bare = await startServerProcess();
    try {
      const response = await httpRequest(`${bare.url}/shop/cart?x=1`);
      expect(response.status).toBe(404);
      expect(response.headers['x-standin-error']).toBe('no_tunnel');
      expect(response.text).toContain('/_standin/select/&#60;name&#62;?to=%2Fshop%2Fcart%3Fx%3D1');
      expect(response.text).toContain('X-Standin-Tunnel: &#60;name&#62;');
      const json = await httpRequest(`${bare.url}/shop/`, { headers: { accept: 'application/json', 'x-standin-tunnel': 'ghost' } });
      // A selected tunnel that does not exist answers for itself when there is no fallback.
      expect(json.status).toBe(503);
      expect(JSON.parse(json.text)).toMatchObject({ error: 'tunnel_offline', tunnel: 'ghost' });
    } finally {
      await bare.stop();
    }
  });

  test.each([
    ['ftp://cluster.example', 'http:// or https://'],
    ['http://shop.svc/base', 'must be an origin'],
    ['not a url', 'is not a URL'],
  ])('--fallback %s is refused at start with exit code 2', async (value, message) => {
    const refused = spawnStandin(['server', '--listen', '0', '--ports', 'none', '--fallback', value]);
    expect(await refused.exitedWithin()).toBe(2);
    expect(refused.stderr.join('')).toContain(message);
  });
});

/** A tiny app that says who it is: the developer's laptop or the in-cluster one. */
function appThatSays(from: string): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    if (url.pathname === '/echo-body') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sendFiveEvents(res);
      return;
    }
    // Never answers: the head timeout must end it.
    if (url.pathname === '/hang') return;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ from, method: req.method, url: req.url, headers: req.headers }));
    });
  };
}

/** Sends raw bytes and returns everything the server answered before closing (bounded). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let received = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')));
  });
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
