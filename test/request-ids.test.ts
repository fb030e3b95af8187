/**
 * One request id everywhere (issue 6): the server's access log, the client's log line, the
 * --log-file NDJSON line, the inspector, the app's received headers and the browser's response
 * header all carry the id the server assigned; trace headers are logged as fields on both sides;
 * standin's own errors are logged with their code. Also the server's recent-requests endpoint.
 */

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { echoHandler, startLocalApp, type LocalApp } from './helpers/local-app';
import { eventually, httpRequest } from './helpers/http';
import { inspectPortBase, readNdjson, waitForNdjsonLine } from './helpers/inspector';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let logFile: string;
let inspectorUrl: string;
const received: http.IncomingHttpHeaders[] = [];

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    received.push(req.headers);
    if (req.url === '/drop') return void req.socket.destroy();
    echoHandler()(req, res);
  });
  server = await startServerProcess();
  logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'standin-log-')), 'requests.ndjson');
  client = await startClientProcess(String(app.port), server.url, ['--log-file', logFile, '--inspect', String(await inspectPortBase())]);
  const ready = await client.waitForLine((line) => line.message === 'tunnel ready');
  inspectorUrl = String(ready.inspectorUrl);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

test('one request id in the response header, the app, the server log, the client log, the log file and the inspector', async () => {
  const response = await httpRequest(`${client.publicUrl}/traced?q=1`, {
    headers: { traceparent: TRACEPARENT, 'x-correlation-id': 'corr-7' },
  });
  expect(response.status).toBe(200);
  const requestId = String(response.headers['x-standin-request-id']);
  expect(requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

  const appHeaders = received.find((headers) => headers['x-standin-request-id'] === requestId);
  expect(appHeaders).toBeDefined();
  expect(appHeaders!['x-request-id']).toBe(requestId);

  // Query strings stay out of logs unless --log-query (docs/security.md); the inspector keeps them.
  const access = await server.waitForLine((line) => line.message === 'forwarded request' && line.requestId === requestId);
  expect(access).toMatchObject({ path: '/traced', status: 200, traceparent: TRACEPARENT, correlationId: 'corr-7' });

  const clientLine = await client.waitForLine((line) => line.message === 'request' && line.requestId === requestId);
  // The client logs the headers it got: the trace continued by the server, the correlation id kept.
  expect(clientLine).toMatchObject({ status: 200, path: '/traced', correlationId: 'corr-7', xRequestId: requestId });
  expect(String(clientLine.traceparent)).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);

  const fileLine = await waitForNdjsonLine(logFile, (line) => line.requestId === requestId);
  expect(fileLine).toMatchObject({
    tunnel: client.tunnel,
    method: 'GET',
    path: '/traced',
    status: 200,
    bytesIn: 0,
    correlationId: 'corr-7',
  });
  expect(Number(fileLine.bytesOut)).toBe(response.body.length);
  for (const timing of ['queuedMs', 'appMs', 'totalMs']) expect(typeof fileLine[timing]).toBe('number');
  expect(Number(fileLine.totalMs)).toBeGreaterThanOrEqual(Number(fileLine.appMs));
  expect(new Date(String(fileLine.time)).getTime()).toBeGreaterThan(Date.now() - 60_000);
  expect(fileLine.error).toBeUndefined();

  const detail = await httpRequest(`${inspectorUrl}api/requests/${requestId}`);
  expect(detail.status).toBe(200);
  expect(JSON.parse(detail.text)).toMatchObject({ id: requestId, path: '/traced?q=1', status: 200 });
});

test("a browser's own X-Request-Id is kept for the app and logged beside standin's id, never instead of it", async () => {
  const response = await httpRequest(`${client.publicUrl}/own-id`, { headers: { 'x-request-id': 'browser-id-1' } });
  const requestId = String(response.headers['x-standin-request-id']);
  const appHeaders = received.find((headers) => headers['x-standin-request-id'] === requestId);
  expect(appHeaders!['x-request-id']).toBe('browser-id-1');
  const access = await server.waitForLine((line) => line.message === 'forwarded request' && line.path === '/own-id');
  expect(access).toMatchObject({ requestId, xRequestId: 'browser-id-1' });
  const fileLine = await waitForNdjsonLine(logFile, (line) => line.path === '/own-id');
  expect(fileLine).toMatchObject({ requestId, xRequestId: 'browser-id-1' });
});

test('app_error: the server log, the client log and the log file carry the code and the id', async () => {
  const response = await httpRequest(`${client.publicUrl}/drop`);
  expect(response.status).toBe(502);
  expect(response.headers['x-standin-error']).toBe('app_error');
  const requestId = String(response.headers['x-standin-request-id']);
  const access = await server.waitForLine((line) => line.requestId === requestId && line.message === 'standin answered with an error');
  expect(access).toMatchObject({ status: 502, error: 'app_error', path: '/drop' });
  const clientLine = await client.waitForLine((line) => line.message === 'request' && line.requestId === requestId);
  expect(clientLine).toMatchObject({ status: 502, error: 'app_error' });
  const fileLine = await waitForNdjsonLine(logFile, (line) => line.requestId === requestId);
  expect(fileLine).toMatchObject({ status: 502, error: 'app_error', path: '/drop' });
});

test('app_unreachable: the server log, the client log and the log file carry the code and the id', async () => {
  const deadPort = await freePort();
  const deadLog = path.join(path.dirname(logFile), 'dead.ndjson');
  const deadClient = await startClientProcess(String(deadPort), server.url, ['--name', 'dead-app', '--log-file', deadLog, '--no-inspect']);
  try {
    const ready = await deadClient.waitForLine((line) => line.message === 'tunnel ready');
    expect(ready.inspectorUrl).toBeNull();
    const response = await httpRequest(`${deadClient.publicUrl}/nobody-home`);
    expect(response.status).toBe(502);
    expect(response.headers['x-standin-error']).toBe('app_unreachable');
    const requestId = String(response.headers['x-standin-request-id']);
    const access = await server.waitForLine((line) => line.requestId === requestId && line.message === 'standin answered with an error');
    expect(access).toMatchObject({ status: 502, error: 'app_unreachable', tunnel: 'dead-app' });
    const clientLine = await deadClient.waitForLine((line) => line.message === 'request' && line.requestId === requestId);
    expect(clientLine).toMatchObject({ status: 502, error: 'app_unreachable' });
    const fileLine = await waitForNdjsonLine(deadLog, (line) => line.requestId === requestId);
    expect(fileLine).toMatchObject({ status: 502, error: 'app_unreachable', path: '/nobody-home', bytesOut: 0 });
  } finally {
    await deadClient.stop('SIGINT');
  }
});

test('--quiet prints no line per request, while the log file still gets one', async () => {
  const quietLog = path.join(path.dirname(logFile), 'quiet.ndjson');
  const quiet = await startClientProcess(String(app.port), server.url, [
    '--name',
    'quiet-one',
    '--quiet',
    '--log-file',
    quietLog,
    '--no-inspect',
  ]);
  try {
    const response = await httpRequest(`${quiet.publicUrl}/hush`);
    const requestId = String(response.headers['x-standin-request-id']);
    await waitForNdjsonLine(quietLog, (line) => line.requestId === requestId);
    await server.waitForLine((line) => line.requestId === requestId);
    expect(quiet.lines.some((line) => line.message === 'request')).toBe(false);
  } finally {
    await quiet.stop('SIGINT');
  }
});

test('an unwritable --log-file is a config error (exit 2)', async () => {
  const { spawnStandin } = await import('./helpers/processes');
  const child = spawnStandin(['connect', '3000', '--server', server.url, '--log-file', '/nonexistent-dir/x.ndjson', '--no-inspect']);
  expect(await child.exitedWithin()).toBe(2);
  expect(child.stderr.join('')).toContain('--log-file /nonexistent-dir/x.ndjson cannot be opened');
});

test("the server lists a tunnel's recent requests newest first, without query strings", async () => {
  const first = await httpRequest(`${client.publicUrl}/recent-a?token=secret`);
  const second = await httpRequest(`${client.publicUrl}/recent-b`);
  let list: Record<string, unknown>[] = [];
  await eventually(async () => {
    list = JSON.parse((await httpRequest(`${server.url}/_standin/api/tunnels/${client.tunnel}/requests`)).text);
    return list.some((entry) => entry.path === '/recent-b');
  });
  const index = (id: unknown) => list.findIndex((entry) => entry.id === id);
  expect(index(second.headers['x-standin-request-id'])).toBeLessThan(index(first.headers['x-standin-request-id']));
  expect(list[index(first.headers['x-standin-request-id'])]).toMatchObject({ method: 'GET', path: '/recent-a', status: 200 });
  expect(JSON.stringify(list)).not.toContain('secret');
  const entry = list[0];
  expect(Object.keys(entry).sort()).toEqual(expect.arrayContaining(['durationMs', 'id', 'method', 'path', 'startedAt', 'status']));
  const unknown = await httpRequest(`${server.url}/_standin/api/tunnels/no-such-tunnel/requests`);
  expect(unknown.status).toBe(404);
  expect(JSON.parse(unknown.text).error).toBe('not_found');
});

test('the log file gets exactly one line per request', async () => {
  const before = readNdjson(logFile).length;
  const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => httpRequest(`${client.publicUrl}/many?i=${i}`)));
  const ids = new Set(responses.map((response) => response.headers['x-standin-request-id']));
  await eventually(() => readNdjson(logFile).filter((line) => ids.has(line.requestId as string)).length === 20);
  expect(readNdjson(logFile).length).toBe(before + 20);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
