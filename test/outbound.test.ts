/**
 * Outbound calls (docs/outbound.md) with the real processes: a local app calls a "cluster
 * service" through `standin connect --cluster-proxy` and HTTP_PROXY. The service answers only
 * connections held by the standin server process (it checks its peer in /proc), so every
 * success here went through the server.
 */

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { EnvHttpProxyAgent, fetch } from 'undici';
import { HostileClient } from './helpers/hostile-client';
import { startClosingApp, type ClosingApp } from './helpers/closing-app';
import { eventually, httpRequest } from './helpers/http';
import { downloadBlock, sendDownloadBlocks, startLocalApp, type LocalApp } from './helpers/local-app';
import { isPeerProcess } from './helpers/peer-process';
import { spawnStandin, startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import type { RequestSummary } from '../client/inspector/request-store';
import { HEADER } from '#shared/protocol/headers';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import { encodeFrame } from '#shared/protocol/wire-frame';

jest.setTimeout(60_000);

const TOKEN = 'outbound-test-token';
const MiB = 1024 * 1024;
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

let service: LocalApp;
let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let proxyUrl: string;
let inspectorUrl: string;
let closedPort: number;
let closingService: ClosingApp;
/** Requests the service got from anyone but the standin server (it refused them). */
let refusedCalls = 0;
let servedCalls = 0;
/** Resolved when the service sees the connection of its endless stream close. */
let endlessStreamClosed: () => void = () => {};
/** Resolved by the SSE test once it has read the first event; the service sends the second only then. */
let firstEventSeen: () => void = () => {};

beforeAll(async () => {
  closedPort = await freePort();
  service = await startLocalApp(serviceHandler);
  closingService = await startClosingApp();
  server = await startServerProcess([
    '--token',
    TOKEN,
    '--outbound-allow',
    `127.0.0.1:${service.port},127.0.0.1:${closedPort},127.0.0.1:${closingService.port}`,
    '169.254.169.254',
    '--outbound-allow-private',
  ]);
  app = await startLocalApp(ssrAppHandler);
  client = await startClientProcess(String(app.port), server.url, ['--token', TOKEN, '--cluster-proxy', '0', '--inspect', '0']);
  proxyUrl = String((await client.waitForLine((line) => line.message === 'cluster proxy ready')).url);
  inspectorUrl = String((await client.waitForLine((line) => line.message === 'tunnel ready')).inspectorUrl);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await Promise.all([app?.close(), service?.close(), closingService?.close()]);
});

/** The in-cluster service: serves only connections of the standin server process. */
function serviceHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (!isPeerProcess(req.socket, server.child.pid!)) {
    refusedCalls++;
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('only the standin server may call this service\n');
    return;
  }
  servedCalls++;
  const url = req.url ?? '/';
  if (url.startsWith('/hello')) {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'x-service': 'orders' });
    res.end(JSON.stringify({ url, headers: req.headers }));
  } else if (url === '/download') {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(20 * MiB) });
    sendDownloadBlocks(res, 20);
  } else if (url === '/upload') {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
    });
  } else if (url === '/events') {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('data: one\n\n');
    const seen = new Promise<string>((resolve) => (firstEventSeen = () => resolve('two')));
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 5_000).unref());
    void Promise.race([seen, timeout]).then((second) => res.end(`data: ${second}\n\n`));
  } else if (url === '/cut') {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(MiB) });
    res.write(Buffer.alloc(64 * 1024, 1), () => res.destroy());
  } else if (url === '/endless') {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('tick\n'), 50);
    res.once('close', () => {
      clearInterval(timer);
      endlessStreamClosed();
    });
  } else {
    res.writeHead(404).end();
  }
}

/** The local app: a server-side render that fetches from the cluster service, as Next.js does. */
function ssrAppHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  req.resume();
  const dispatcher = new EnvHttpProxyAgent({ httpProxy: proxyUrl, noProxy: '' });
  fetch(`http://127.0.0.1:${service.port}/hello/from-ssr`, { dispatcher })
    .then(async (answer) => {
      const data = (await answer.json()) as { url: string };
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<p>rendered with ${data.url} (${answer.status})</p>`);
    })
    .catch((error: Error) => {
      res.writeHead(500).end(error.message);
    })
    .finally(() => void dispatcher.close());
}

/** A Node client that sends absolute-form requests to the proxy, as curl and node:http agents do. */
function viaProxy(): EnvHttpProxyAgent {
  return new EnvHttpProxyAgent({ httpProxy: proxyUrl, noProxy: '', proxyTunnel: false });
}

async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('the cluster service of these tests', () => {
  test('refuses a direct call: only the standin server reaches it', async () => {
    const before = refusedCalls;
    const answer = await httpRequest(`${service.url}/hello`);
    expect(answer.status).toBe(403);
    expect(refusedCalls).toBe(before + 1);
  });
});

describe('outbound calls through --cluster-proxy', () => {
  test('a GET reaches the service with trace headers, and its id shows in server log, client log and inspector', async () => {
    const dispatcher = viaProxy();
    const answer = await fetch(`http://127.0.0.1:${service.port}/hello?q=1`, {
      dispatcher,
      headers: { traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01` },
    });
    const seen = (await answer.json()) as { url: string; headers: http.IncomingHttpHeaders };
    await dispatcher.close();
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-service')).toBe('orders');
    const id = answer.headers.get('x-standin-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.url).toBe('/hello?q=1');
    expect(seen.headers.host).toBe(`127.0.0.1:${service.port}`);
    expect(seen.headers['x-standin-request-id']).toBe(id);
    expect(seen.headers['x-standin-tunnel']).toBe(client.tunnel);
    expect(seen.headers.via).toBe('1.1 standin');
    // The app's trace continues: same trace id, standin's own span.
    expect(seen.headers.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    expect(seen.headers.traceparent).not.toContain('b7ad6b7169203331');

    const serverLine = await server.waitForLine((line) => line.message === 'forwarded outbound request' && line.requestId === id);
    expect(serverLine).toMatchObject({
      outbound: true,
      tunnel: client.tunnel,
      destination: `127.0.0.1:${service.port}`,
      path: '/hello',
      status: 200,
    });
    const clientLine = await client.waitForLine((line) => line.message === 'request' && line.requestId === id);
    // The query stays out of the log unless --log-query.
    expect(clientLine).toMatchObject({ outbound: true, method: 'GET', status: 200, path: `http://127.0.0.1:${service.port}/hello` });
    await eventually(async () => {
      const list = JSON.parse((await httpRequest(`${inspectorUrl}api/requests`)).text) as RequestSummary[];
      return list.some((entry) => entry.id === id && entry.outbound === true && entry.status === 200);
    });
  });

  test('a server-side render in the local app, reached through the tunnel, fetches from the service', async () => {
    const page = await httpRequest(`${client.publicUrl}/products`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('rendered with /hello/from-ssr (200)');
  });

  test('curl and a Node client configured only by the proxy environment variables get through', async () => {
    const env = { ...process.env, http_proxy: proxyUrl, HTTP_PROXY: proxyUrl, NO_PROXY: '', no_proxy: '' };
    const curl = await run('curl', ['-s', '--max-time', '10', `http://127.0.0.1:${service.port}/hello/curl`], env);
    expect(JSON.parse(curl).url).toBe('/hello/curl');
    const script = `const { EnvHttpProxyAgent, fetch } = require('undici');
      fetch('http://127.0.0.1:${service.port}/hello/node', { dispatcher: new EnvHttpProxyAgent() }).then((r) => r.json()).then((j) => console.log(j.url));`;
    const node = await run(process.execPath, ['-e', script], env, path.resolve(__dirname, '../..'));
    expect(node.trim()).toBe('/hello/node');
  });

  test('a 20 MiB download arrives intact', async () => {
    const dispatcher = viaProxy();
    const answer = await fetch(`http://127.0.0.1:${service.port}/download`, { dispatcher });
    const body = Buffer.from(await answer.arrayBuffer());
    await dispatcher.close();
    expect(answer.status).toBe(200);
    expect(body.length).toBe(20 * MiB);
    expect(body.equals(Buffer.concat(Array.from({ length: 20 }, () => downloadBlock())))).toBe(true);
  });

  test('a 20 MiB upload arrives intact', async () => {
    const upload = Buffer.alloc(20 * MiB);
    for (let i = 0; i < upload.length; i += 4) upload.writeUInt32LE(i, i);
    const dispatcher = viaProxy();
    const answer = await fetch(`http://127.0.0.1:${service.port}/upload`, { dispatcher, method: 'POST', body: upload });
    const result = (await answer.json()) as { bytes: number; sha256: string };
    await dispatcher.close();
    expect(answer.status).toBe(200);
    expect(result).toEqual({ bytes: upload.length, sha256: createHash('sha256').update(upload).digest('hex') });
  });

  test('server-sent events stream event by event', async () => {
    const dispatcher = viaProxy();
    const answer = await fetch(`http://127.0.0.1:${service.port}/events`, { dispatcher });
    expect(answer.headers.get('content-type')).toBe('text/event-stream');
    const reader = answer.body!.getReader();
    let text = '';
    // The service sends the second event only after this side has read the first: a path that
    // held the stream back would get "timeout" instead.
    while (!text.includes('data: one\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    firstEventSeen();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    await dispatcher.close();
    expect(text).toBe('data: one\n\ndata: two\n\n');
  });

  test("a service that breaks off mid-body cuts the app's response too, never a short complete one", async () => {
    const dispatcher = viaProxy();
    const answer = await fetch(`http://127.0.0.1:${service.port}/cut`, { dispatcher });
    expect(answer.status).toBe(200);
    await expect(answer.arrayBuffer()).rejects.toThrow();
    await dispatcher.close();
  });

  test('an app that hangs up mid-stream stops the call at the service', async () => {
    const closed = new Promise<void>((resolve) => (endlessStreamClosed = resolve));
    const dispatcher = viaProxy();
    const abort = new AbortController();
    const answer = await fetch(`http://127.0.0.1:${service.port}/endless`, { dispatcher, signal: abort.signal });
    const reader = answer.body!.getReader();
    await reader.read();
    abort.abort();
    await expect(
      Promise.race([closed.then(() => 'closed'), new Promise((resolve) => setTimeout(resolve, 5_000, 'still open'))]),
    ).resolves.toBe('closed');
    await dispatcher.destroy();
  });

  test('a destination no rule allows gets 403 outbound_denied naming the rule to add', async () => {
    const before = servedCalls + refusedCalls;
    const dispatcher = viaProxy();
    const answer = await fetch('http://orders.internal.test:8080/api', { dispatcher, headers: { accept: 'application/json' } });
    const body = (await answer.json()) as { error: string; message: string; requestId: string };
    await dispatcher.close();
    expect(answer.status).toBe(403);
    expect(answer.headers.get('x-standin-error')).toBe('outbound_denied');
    expect(body.error).toBe('outbound_denied');
    expect(body.message).toContain('--outbound-allow orders.internal.test:8080');
    await server.waitForLine((line) => line.requestId === body.requestId && line.error === 'outbound_denied');
    await client.waitForLine((line) => line.requestId === body.requestId && line.error === 'outbound_denied' && line.outbound === true);
    expect(servedCalls + refusedCalls).toBe(before);
  });

  test('a link-local address (the cloud metadata endpoint) is refused even when a rule names it', async () => {
    const dispatcher = viaProxy();
    const answer = await fetch('http://169.254.169.254/latest/meta-data/', { dispatcher });
    const body = (await answer.json()) as { error: string; message: string };
    await dispatcher.close();
    expect(answer.status).toBe(403);
    expect(body.error).toBe('outbound_denied');
    expect(body.message).toContain('link-local');
  });

  test('a destination that is down gets 502 outbound_unreachable', async () => {
    const dispatcher = viaProxy();
    const answer = await fetch(`http://127.0.0.1:${closedPort}/x`, { dispatcher });
    const body = (await answer.json()) as { error: string; message: string };
    await dispatcher.close();
    expect(answer.status).toBe(502);
    expect(answer.headers.get('x-standin-error')).toBe('outbound_unreachable');
    expect(body.message).toContain('connection refused');
  });

  test('a service that closes a kept-alive connection under a GET gets it once more; a POST is not sent twice', async () => {
    const dispatcher = viaProxy();
    try {
      const closedBefore = closingService.closedUnanswered();
      for (let i = 0; i < 4; i++) {
        const answer = await fetch(`http://127.0.0.1:${closingService.port}/page-${i}`, { dispatcher });
        expect([answer.status, await answer.text()]).toEqual([200, 'ok']);
      }
      expect(closingService.closedUnanswered()).toBeGreaterThan(closedBefore);
      await (await fetch(`http://127.0.0.1:${closingService.port}/warm`, { dispatcher })).text();
      const before = closingService.seen.length;
      const answer = await fetch(`http://127.0.0.1:${closingService.port}/order`, { dispatcher, method: 'POST', body: 'buy one' });
      await answer.text();
      expect(answer.status).toBe(502);
      expect(answer.headers.get('x-standin-error')).toBe('outbound_unreachable');
      expect(closingService.seen.slice(before)).toEqual(['POST /order HTTP/1.1']);
    } finally {
      await dispatcher.close();
    }
  });

  test('a client that tunnels http:// with CONNECT (undici, Node fetch with NODE_USE_ENV_PROXY) gets through too', async () => {
    // EnvHttpProxyAgent's default is to tunnel; viaProxy() above sends absolute-form requests.
    const dispatcher = new EnvHttpProxyAgent({ httpProxy: proxyUrl, noProxy: '' });
    const answer = await fetch(`http://127.0.0.1:${service.port}/hello/tunnelled`, { dispatcher });
    const seen = (await answer.json()) as { url: string };
    const again = await fetch(`http://127.0.0.1:${service.port}/hello/again`, { dispatcher });
    await again.text();
    await dispatcher.close();
    expect(answer.status).toBe(200);
    expect(seen.url).toBe('/hello/tunnelled');
    expect(again.status).toBe(200);
  });

  test('CONNECT to port 443 (an https:// URL) is refused with a message that says why', async () => {
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = http.request(proxyUrl, { method: 'CONNECT', path: 'example.com:443', agent: false });
      request.once('connect', (response, socket, head) => {
        let text = head.toString('utf8');
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        socket.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
        socket.on('error', reject);
      });
      request.on('error', reject);
      request.setTimeout(10_000, () => request.destroy(new Error('CONNECT timed out')));
      request.end();
    });
    expect(answer.status).toBe(501);
    expect(answer.text).toContain('plain HTTP');
  });

  test('the server counts outbound calls by destination', async () => {
    const metrics = await httpRequest(`${server.url}/_standin/metrics`);
    expect(metrics.text).toMatch(
      new RegExp(`standin_outbound_requests_total\\{destination="127\\.0\\.0\\.1:${service.port}",outcome="completed"\\} [1-9]`),
    );
    expect(metrics.text).toMatch(/standin_outbound_requests_total\{destination="denied",outcome="outbound_denied"\} [1-9]/);
  });
});

describe('standin connect --cluster-proxy', () => {
  test('a port that is taken is a usage error (exit 2) that says so, before registering', async () => {
    const taken = spawnStandin([
      'connect',
      '1',
      '--server',
      server.url,
      '--token',
      TOKEN,
      '--cluster-proxy',
      String(service.port),
      '--no-inspect',
    ]);
    expect(await taken.exitedWithin(10_000)).toBe(2);
    expect(taken.stderr.join('')).toContain(`--cluster-proxy port ${service.port} on 127.0.0.1 is in use`);
    expect(taken.lines.some((line) => line.message === 'tunnel ready')).toBe(false);
  });
});

describe("the server's outbound endpoint", () => {
  test('refuses a caller without the token, and one without the session, before any call is made', async () => {
    const before = servedCalls + refusedCalls;
    const endpoint = `${server.url}/_standin/v1/tunnels/${client.tunnel}/outbound`;
    const body = encodeFrame(
      JSON.stringify({
        kind: 'outbound-request',
        id: '6f1c2a9e-1d1b-4c53-9a1e-1a2b3c4d5e6f',
        method: 'GET',
        url: `http://127.0.0.1:${service.port}/hello`,
        headers: [],
      }),
    );
    const anonymous = await httpRequest(endpoint, { method: 'POST', body });
    expect(anonymous.status).toBe(401);
    const noSession = await httpRequest(endpoint, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${TOKEN}`, [HEADER.protocol]: String(PROTOCOL_VERSION), [HEADER.session]: 'guessed' },
    });
    expect(noSession.status).toBe(404);
    expect(JSON.parse(noSession.text).error).toBe('unknown_session');
    expect(servedCalls + refusedCalls).toBe(before);
  });
});

describe("the server's outbound endpoint with hostile input", () => {
  let endpoint: string;
  let session: Record<string, string>;
  beforeAll(async () => {
    const client = await HostileClient.register(server.url, 'outbound-raw', TOKEN);
    endpoint = `${server.url}/_standin/v1/tunnels/outbound-raw/outbound`;
    session = client.rawCallHeaders(TOKEN);
  });

  const call = (meta: Record<string, unknown>) => ({
    kind: 'outbound-request',
    id: '6f1c2a9e-1d1b-4c53-9a1e-1a2b3c4d5e6f',
    method: 'GET',
    url: `http://127.0.0.1:${service.port}/hello`,
    headers: [],
    ...meta,
  });

  test.each([
    ['a body that is no frame', 400, 'bad_request', () => Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['a frame that is no JSON', 400, 'bad_request', () => encodeFrame('{nope')],
    ['a frame over the size limit', 400, 'bad_request', () => Buffer.from('9999999\n{}')],
    ['a frame with a bad id', 400, 'bad_request', () => encodeFrame(JSON.stringify(call({ id: '../../x' })))],
    [
      'a header value with a line break',
      400,
      'outbound_bad_request',
      () => encodeFrame(JSON.stringify(call({ headers: ['X-Evil', 'a\r\nInjected: yes'] }))),
    ],
    ['an https:// destination', 400, 'outbound_bad_request', () => encodeFrame(JSON.stringify(call({ url: 'https://127.0.0.1/' })))],
  ])('%s gets %d %s and the server keeps serving', async (_what, status, code, makeBody) => {
    const body = makeBody();
    const before = servedCalls;
    const answer = await httpRequest(endpoint, { method: 'POST', body, headers: session });
    expect(answer.status).toBe(status);
    expect(JSON.parse(answer.text).error).toBe(code);
    expect(servedCalls).toBe(before);
    const healthy = await httpRequest(`${server.url}/_standin/healthz`);
    expect(healthy.status).toBe(200);
  });
});

describe('a server without --outbound-allow-private', () => {
  let strictServer: ServerProcess;
  let strictClient: ClientProcess;
  let strictProxy: string;
  beforeAll(async () => {
    strictServer = await startServerProcess(['--outbound-allow', `localhost:${service.port}`]);
    strictClient = await startClientProcess('1', strictServer.url, ['--cluster-proxy', '0', '--no-inspect']);
    strictProxy = String((await strictClient.waitForLine((line) => line.message === 'cluster proxy ready')).url);
  });
  afterAll(async () => {
    await strictClient?.stop('SIGINT');
    await strictServer?.stop();
  });

  test('refuses a name that matches a rule but resolves to loopback, and says which flag would allow it', async () => {
    const before = servedCalls + refusedCalls;
    const dispatcher = new EnvHttpProxyAgent({ httpProxy: strictProxy, noProxy: '', proxyTunnel: false });
    const answer = await fetch(`http://localhost:${service.port}/hello`, { dispatcher });
    const body = (await answer.json()) as { error: string; message: string };
    await dispatcher.close();
    expect(answer.status).toBe(403);
    expect(body.error).toBe('outbound_denied');
    expect(body.message).toMatch(/resolves to .*loopback address.*--outbound-allow-private/);
    expect(servedCalls + refusedCalls).toBe(before);
  });
});

function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, cwd, timeout: 15_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
