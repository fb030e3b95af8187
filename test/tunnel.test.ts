/**
 * The data path end to end: a real local app, the real `standin server` and `standin connect`
 * processes, and browser requests on the tunnel's port.
 */

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { downloadBlock, echoHandler, sendDownloadBlocks, sendFiveEvents, startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

const MiB = 1024 * 1024;

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;

beforeAll(async () => {
  app = await startLocalApp(testApp());
  server = await startServerProcess();
  client = await startClientProcess(String(app.port), server.url, ['--concurrency', '48']);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

test('GET through the tunnel reaches the app and comes back', async () => {
  const response = await httpRequest(`${client.publicUrl}/hello?name=ada`);
  expect(response.status).toBe(200);
  const echoed = JSON.parse(response.text);
  expect(echoed.method).toBe('GET');
  expect(echoed.url).toBe('/hello?name=ada');
  expect(response.headers['x-standin-request-id']).toMatch(/^[0-9a-f-]{36}$/);
});

test('POST body arrives intact', async () => {
  const response = await httpRequest(`${client.publicUrl}/echo-body`, {
    method: 'POST',
    body: 'name=ada&lang=ts',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(response.status).toBe(200);
  expect(response.text).toBe('name=ada&lang=ts');
});

test('a 20 MiB upload is echoed back byte for byte', async () => {
  const upload = randomBytes(20 * MiB);
  const response = await httpRequest(`${client.publicUrl}/echo-body`, { method: 'POST', body: upload, timeoutMs: 30_000 });
  expect(response.status).toBe(200);
  expect(sha256(response.body)).toBe(sha256(upload));
});

test('a chunked upload with no Content-Length arrives whole', async () => {
  const parts = Array.from({ length: 20 }, (_, index) => randomBytes(10_000 + index));
  const body = await new Promise<Buffer>((resolve, reject) => {
    const req = http.request(`${client.publicUrl}/echo-body`, { method: 'POST', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    });
    req.on('error', reject);
    // No Content-Length: Node sends Transfer-Encoding: chunked.
    let index = 0;
    const writeNext = () => {
      if (index === parts.length) return void req.end();
      req.write(parts[index++]);
      setTimeout(writeNext, 2);
    };
    writeNext();
  });
  expect(sha256(body)).toBe(sha256(Buffer.concat(parts)));
});

test('a 64 MiB download streams through intact', async () => {
  const response = await httpRequest(`${client.publicUrl}/download?mib=64`, { timeoutMs: 30_000 });
  expect(response.status).toBe(200);
  expect(response.body.length).toBe(64 * MiB);
  expect(sha256(response.body)).toBe(sha256(downloadBody(64)));
});

test('server-sent events reach the browser one by one, as they are sent', async () => {
  const arrivals = await new Promise<Array<{ text: string; at: number }>>((resolve, reject) => {
    const received: Array<{ text: string; at: number }> = [];
    http
      .get(`${client.publicUrl}/events`, { agent: false }, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        res.setEncoding('utf8');
        res.on('data', (text: string) => received.push({ text, at: Date.now() }));
        res.on('end', () => resolve(received));
      })
      .on('error', reject);
  });
  const events = arrivals
    .map((arrival) => arrival.text)
    .join('')
    .split('\n\n')
    .filter(Boolean);
  expect(events).toEqual(['data: 0', 'data: 1', 'data: 2', 'data: 3', 'data: 4']);
  // The app waits 150 ms between events; buffered delivery would bring them in one chunk.
  expect(arrivals.length).toBeGreaterThanOrEqual(4);
  expect(arrivals[arrivals.length - 1].at - arrivals[0].at).toBeGreaterThanOrEqual(450);
});

test('48 slow requests run in parallel, each with its own request id', async () => {
  const started = Date.now();
  const responses = await Promise.all(Array.from({ length: 48 }, () => httpRequest(`${client.publicUrl}/slow?ms=1000`)));
  const elapsed = Date.now() - started;
  expect(responses.every((response) => response.status === 200)).toBe(true);
  expect(new Set(responses.map((response) => response.headers['x-standin-request-id'])).size).toBe(48);
  // In series this would take 48 s; in parallel about one second plus overhead.
  expect(elapsed).toBeLessThan(8_000);
});

test('400 concurrent requests each get their own response, never another one', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
  const markers = Array.from({ length: 400 }, (_, index) => `${index}-${randomBytes(6).toString('hex')}`);
  const answers = await Promise.all(
    markers.map(
      (marker) =>
        new Promise<string>((resolve, reject) => {
          http
            .get(`${client.publicUrl}/marker?m=${marker}`, { agent }, (res) => {
              let text = '';
              res
                .setEncoding('utf8')
                .on('data', (chunk: string) => (text += chunk))
                .on('end', () => resolve(text));
            })
            .on('error', reject);
        }),
    ),
  );
  agent.destroy();
  expect(answers).toEqual(markers.map((marker) => `marker ${marker}`));
});

test('HEAD, 204 and 304 answers carry no body and keep the connection usable', async () => {
  const head = await httpRequest(`${client.publicUrl}/download?mib=1`, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(head.headers['content-length']).toBe(String(MiB));
  expect(head.body.length).toBe(0);
  const empty = await httpRequest(`${client.publicUrl}/status?code=204`);
  expect(empty.status).toBe(204);
  const notModified = await httpRequest(`${client.publicUrl}/status?code=304`);
  expect(notModified.status).toBe(304);
});

test('an app that drops the connection gives 502 app_error, and the next request works', async () => {
  const broken = await httpRequest(`${client.publicUrl}/drop`);
  expect(broken.status).toBe(502);
  expect(broken.headers['x-standin-error']).toBe('app_error');
  expect(broken.text).toContain('Your local app broke the response');
  const next = await httpRequest(`${client.publicUrl}/hello`);
  expect(next.status).toBe(200);
});

test('an app that breaks off mid-body cuts the browser connection instead of ending cleanly', async () => {
  await expect(httpRequest(`${client.publicUrl}/truncate`)).rejects.toThrow();
  const next = await httpRequest(`${client.publicUrl}/hello`);
  expect(next.status).toBe(200);
});

test('the server access log and the client log carry the same request id', async () => {
  const response = await httpRequest(`${client.publicUrl}/logged`, { headers: { 'x-correlation-id': 'corr-42' } });
  const requestId = response.headers['x-standin-request-id'];
  const access = await server.waitForLine((line) => line.message === 'forwarded request' && line.requestId === requestId);
  expect(access).toMatchObject({ tunnel: client.tunnel, method: 'GET', path: '/logged', status: 200, correlationId: 'corr-42' });
  expect(typeof access.queueMs).toBe('number');
  expect(typeof access.appMs).toBe('number');
  expect(typeof access.totalMs).toBe('number');
  const clientLine = await client.waitForLine((line) => line.message === 'request' && line.requestId === requestId);
  expect(clientLine).toMatchObject({ tunnel: client.tunnel, status: 200, path: '/logged' });
});

function testApp(): http.RequestListener {
  const echo = echoHandler();
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    switch (url.pathname) {
      case '/echo-body':
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
        return;
      case '/download': {
        const mib = Number(url.searchParams.get('mib'));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mib * MiB });
        if (req.method === 'HEAD') return void res.end();
        sendDownloadBlocks(res, mib);
        return;
      }
      case '/events': {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        sendFiveEvents(res);
        return;
      }
      case '/slow':
        setTimeout(() => echo(req, res), Number(url.searchParams.get('ms')));
        return;
      case '/marker':
        // A random delay so answers come back in a different order than requests went in.
        setTimeout(() => res.end(`marker ${url.searchParams.get('m')}`), Math.random() * 20);
        return;
      case '/status':
        res.writeHead(Number(url.searchParams.get('code')));
        res.end();
        return;
      case '/drop':
        req.socket.destroy();
        return;
      case '/truncate':
        res.writeHead(200, { 'content-length': 1000 });
        res.write('only part of it');
        setTimeout(() => req.socket.destroy(), 50);
        return;
      default:
        echo(req, res);
    }
  };
}

function downloadBody(mib: number): Buffer {
  return Buffer.concat(Array.from({ length: mib }, downloadBlock));
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
