/**
 * The request inspector's JSON API (docs/design.md "Request inspector") against the real client and
 * server processes: list order, detail, replay, preview cap, Host and Origin guards, port choice.
 */

import http from 'node:http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { eventually, httpRequest } from './helpers/http';
import { inspectPortBase } from './helpers/inspector';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import type { RequestSummary as Summary } from '../client/inspector/request-store';

jest.setTimeout(60_000);

const KiB = 1024;

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let inspector: string;
let inspectorPort: number;
const received: { url: string; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/binary') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return void res.end(Buffer.from([0, 1, 2, 0xfe, 0xff, 0x10]));
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end('x'.repeat(200 * KiB));
      }
      res.writeHead(201, { 'content-type': 'application/json', 'x-app': 'yes' });
      res.end(JSON.stringify({ url: req.url, got: body.toString('utf8') }));
    });
  });
  server = await startServerProcess();
  inspectorPort = await inspectPortBase();
  client = await startClientProcess(String(app.port), server.url, ['--inspect', String(inspectorPort)]);
  const ready = await client.waitForLine((line) => line.message === 'tunnel ready');
  inspector = String(ready.inspectorUrl);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

async function list(): Promise<Summary[]> {
  return JSON.parse((await httpRequest(`${inspector}api/requests`)).text) as Summary[];
}

async function inspected(id: string): Promise<Summary> {
  let found: Summary | undefined;
  await eventually(async () => (found = (await list()).find((entry) => entry.id === id)) !== undefined);
  return found!;
}

test('the inspector listens on 127.0.0.1 at the --inspect port and says so in "tunnel ready"', () => {
  expect(inspector).toBe(`http://127.0.0.1:${inspectorPort}/`);
});

test('lists requests newest first with id, method, path, status, duration and start time', async () => {
  const ids: string[] = [];
  for (const name of ['one', 'two', 'three']) {
    const response = await httpRequest(`${client.publicUrl}/order/${name}`);
    ids.push(String(response.headers['x-standin-request-id']));
    await inspected(ids[ids.length - 1]);
  }
  const entries = (await list()).filter((entry) => entry.path.startsWith('/order/'));
  expect(entries.map((entry) => entry.id)).toEqual(ids.reverse());
  expect(entries[0]).toMatchObject({ method: 'GET', path: '/order/three', status: 201 });
  expect(typeof entries[0].durationMs).toBe('number');
  expect(Number.isNaN(Date.parse(entries[0].startedAt))).toBe(false);
});

test('the detail has both header lists, body previews (JSON pretty-printed) and timings', async () => {
  const response = await httpRequest(`${client.publicUrl}/detail`, {
    method: 'POST',
    body: '{"name":"ada","n":[1,2]}',
    headers: { 'content-type': 'application/json', 'x-correlation-id': 'c-9' },
  });
  const id = String(response.headers['x-standin-request-id']);
  await inspected(id);
  const detail = JSON.parse((await httpRequest(`${inspector}api/requests/${id}`)).text);
  expect(detail).toMatchObject({ id, method: 'POST', path: '/detail', status: 201, bytesIn: 24, trace: { correlationId: 'c-9' } });
  expect(detail.request.headers).toEqual(
    expect.arrayContaining([
      ['X-Standin-Request-Id', id],
      ['x-correlation-id', 'c-9'],
    ]),
  );
  expect(detail.response.headers).toEqual(expect.arrayContaining([['x-app', 'yes']]));
  expect(detail.request.body).toEqual({
    kind: 'json',
    totalBytes: 24,
    truncated: false,
    text: JSON.stringify({ name: 'ada', n: [1, 2] }, null, 2),
  });
  expect(detail.response.body.kind).toBe('json');
  expect(detail.response.body.text).toContain('\n  "url": "/detail"');
  expect(typeof detail.timings.queuedMs).toBe('number');
  expect(detail.timings.totalMs).toBeGreaterThanOrEqual(detail.timings.appMs);
  expect(detail.replayRefusal).toBeUndefined();
});

test('binary bodies are shown as size and hex', async () => {
  const response = await httpRequest(`${client.publicUrl}/binary`);
  const id = String(response.headers['x-standin-request-id']);
  await inspected(id);
  const detail = JSON.parse((await httpRequest(`${inspector}api/requests/${id}`)).text);
  expect(detail.response.body).toEqual({ kind: 'binary', totalBytes: 6, truncated: false, hex: '00000000  00 01 02 fe ff 10' });
});

test('replay sends the captured request to the app again under a new id, and it appears in the list', async () => {
  const response = await httpRequest(`${client.publicUrl}/replay-me?x=1`, {
    method: 'PUT',
    body: 'payload-123',
    headers: { 'content-type': 'text/plain' },
  });
  const id = String(response.headers['x-standin-request-id']);
  await inspected(id);
  const replay = await httpRequest(`${inspector}api/requests/${id}/replay`, { method: 'POST' });
  expect(replay.status).toBe(200);
  const result = JSON.parse(replay.text) as { id: string; status: number };
  expect(result.status).toBe(201);
  expect(result.id).not.toBe(id);
  expect(result.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const again = received.find((request) => request.headers['x-standin-request-id'] === result.id);
  expect(again).toBeDefined();
  expect(again!.url).toBe('/replay-me?x=1');
  expect(again!.body.toString()).toBe('payload-123');
  expect(again!.headers['x-standin-replay-of']).toBe(id);
  expect(again!.headers['x-request-id']).toBe(result.id);
  const entry = await inspected(result.id);
  expect(entry).toMatchObject({ method: 'PUT', path: '/replay-me?x=1', status: 201, replayOf: id });
  expect((await list())[0].id).toBe(result.id);
  // The replay is logged like any request.
  await client.waitForLine((line) => line.message === 'request' && line.requestId === result.id && line.replayOf === id);
});

test('body previews stop at 64 KiB, and a request whose body was cut cannot be replayed', async () => {
  const upload = Buffer.alloc(200 * KiB, 'a');
  const response = await httpRequest(`${client.publicUrl}/upload`, {
    method: 'POST',
    body: upload,
    headers: { 'content-type': 'text/plain' },
  });
  const id = String(response.headers['x-standin-request-id']);
  await inspected(id);
  const detail = JSON.parse((await httpRequest(`${inspector}api/requests/${id}`)).text);
  expect(detail.request.body).toMatchObject({ kind: 'text', totalBytes: 200 * KiB, truncated: true });
  expect(detail.request.body.text.length).toBe(64 * KiB);
  expect(detail.replayRefusal).toContain('204800 bytes');
  const replay = await httpRequest(`${inspector}api/requests/${id}/replay`, { method: 'POST' });
  expect(replay.status).toBe(409);
  expect(JSON.parse(replay.text)).toMatchObject({ error: 'replay_refused' });
  expect(JSON.parse(replay.text).message).toContain('cannot send the same request again');

  const big = await httpRequest(`${client.publicUrl}/big`);
  expect(big.body.length).toBe(200 * KiB);
  const bigId = String(big.headers['x-standin-request-id']);
  await inspected(bigId);
  const bigDetail = JSON.parse((await httpRequest(`${inspector}api/requests/${bigId}`)).text);
  expect(bigDetail.response.body).toMatchObject({ kind: 'text', totalBytes: 200 * KiB, truncated: true });
  expect(bigDetail.response.body.text.length).toBe(64 * KiB);
});

test('unknown ids get 404 with a JSON reason', async () => {
  const detail = await httpRequest(`${inspector}api/requests/00000000-0000-4000-8000-000000000000`);
  expect(detail.status).toBe(404);
  expect(JSON.parse(detail.text).error).toBe('not_found');
  const replay = await httpRequest(`${inspector}api/requests/nope/replay`, { method: 'POST' });
  expect(replay.status).toBe(404);
});

test('requests naming another Host get 403 (DNS rebinding guard); localhost is fine', async () => {
  for (const host of ['evil.example.com', `evil.example.com:${inspectorPort}`, '127.0.0.1.nip.io', 'localhost.evil.example.com']) {
    const refused = await httpRequest(`${inspector}api/requests`, { headers: { host } });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).error).toBe('forbidden_host');
  }
  const page = await httpRequest(`${inspector}`, { headers: { host: 'evil.example.com' } });
  expect(page.status).toBe(403);
  const allowed = await httpRequest(`${inspector}api/requests`, { headers: { host: `localhost:${inspectorPort}` } });
  expect(allowed.status).toBe(200);
});

test('a replay POSTed from another origin is refused', async () => {
  const response = await httpRequest(`${client.publicUrl}/csrf`);
  const id = String(response.headers['x-standin-request-id']);
  await inspected(id);
  const before = received.length;
  const replay = await httpRequest(`${inspector}api/requests/${id}/replay`, {
    method: 'POST',
    headers: { origin: 'https://evil.example.com' },
  });
  expect(replay.status).toBe(403);
  expect(JSON.parse(replay.text).error).toBe('forbidden_origin');
  expect(received.length).toBe(before);
});

test('when the --inspect port is taken, the inspector takes the next free one', async () => {
  const taken = await new Promise<http.Server>((resolve) => {
    const blocker = http.createServer().listen(inspectorPort + 5, '127.0.0.1', () => resolve(blocker));
  });
  const second = await startClientProcess(String(app.port), server.url, [
    '--name',
    'second-client',
    '--inspect',
    String(inspectorPort + 5),
  ]);
  try {
    const ready = await second.waitForLine((line) => line.message === 'tunnel ready');
    expect(ready.inspectorUrl).toBe(`http://127.0.0.1:${inspectorPort + 6}/`);
    const answer = await httpRequest(`http://127.0.0.1:${inspectorPort + 6}/api/requests`);
    expect(answer.status).toBe(200);
  } finally {
    await second.stop('SIGINT');
    await new Promise((resolve) => taken.close(resolve));
  }
});

test('the inspector keeps only the last 500 requests', async () => {
  const first = await httpRequest(`${client.publicUrl}/bound/first`);
  const firstId = String(first.headers['x-standin-request-id']);
  await inspected(firstId);
  let sent = 0;
  const worker = async () => {
    while (sent < 505) {
      sent++;
      await httpRequest(`${client.publicUrl}/bound/n`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await eventually(async () => (await list()).filter((entry) => entry.path === '/bound/n').length === 500, 20_000);
  const entries = await list();
  expect(entries.length).toBe(500);
  expect(entries.some((entry) => entry.id === firstId)).toBe(false);
  expect((await httpRequest(`${inspector}api/requests/${firstId}`)).status).toBe(404);
});
