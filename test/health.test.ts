/**
 * Health checks end to end: probes through the real client to a real local app, every
 * --health-interval (1 s here), the health turning degraded/down when the app stops and healthy
 * when it returns; "Test now"; probes never reach the app as requests nor the request log.
 */

import http from 'node:http';
import type { TunnelStatus } from '#shared/protocol/status-api';
import { eventually, httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

let app: LocalApp;
let appRequests: string[];
let server: ServerProcess;
let client: ClientProcess;

beforeAll(async () => {
  appRequests = [];
  app = await startLocalApp(countingApp());
  // A short poll timeout lets the server notice a vanished client within seconds.
  server = await startServerProcess(['--health-interval', '1s', '--poll-timeout', '3s']);
  client = await startClientProcess(String(app.port), server.url, ['--name', 'checked']);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

async function health(name = 'checked'): Promise<TunnelStatus['health']> {
  const response = await httpRequest(`${server.url}/_standin/api/tunnels/${name}`);
  return JSON.parse(response.text).health;
}

test('a tunnel whose app runs becomes healthy, with latency and history, and probes never reach the app or the request log', async () => {
  await eventually(async () => (await health()).status === 'healthy', 15_000);
  await eventually(async () => (await health()).history.length >= 2, 15_000);
  const current = await health();
  expect(current.latencyMs).toBeGreaterThan(0);
  expect(current.uptimePct).toBe(100);
  expect(current.lastHealthyAt).not.toBeNull();
  expect(current.history[0]).toEqual(expect.objectContaining({ ok: true, at: expect.any(String) }));
  expect(appRequests).toEqual([]);
  expect(client.lines.filter((line) => line.message === 'request')).toEqual([]);
});

test('health turns degraded, then down, when the local app stops, and healthy again when it returns', async () => {
  const port = app.port;
  await app.close();
  await eventually(async () => (await health()).status === 'degraded', 15_000, 50);
  await eventually(async () => (await health()).status === 'down', 15_000);
  const failing = await health();
  const open = failing.incidents[failing.incidents.length - 1];
  expect(open.endedAt).toBeNull();
  expect(open.cause).toMatch(/ECONNREFUSED/);

  app = await startLocalApp(countingApp(), port);
  await eventually(async () => (await health()).status === 'healthy', 15_000);
  const recovered = await health();
  const closed = recovered.incidents[recovered.incidents.length - 1];
  expect(closed.endedAt).not.toBeNull();
  expect(recovered.uptimePct).toBeLessThan(100);
});

test('POST .../check runs one check now and returns its result', async () => {
  const response = await httpRequest(`${server.url}/_standin/api/tunnels/checked/check`, { method: 'POST' });
  expect(response.status).toBe(200);
  const result = JSON.parse(response.text);
  expect(result).toEqual(expect.objectContaining({ name: 'checked', status: 'healthy' }));
  expect(result.check).toEqual(expect.objectContaining({ ok: true, latencyMs: expect.any(Number) }));
  expect(Date.now() - Date.parse(result.check.at)).toBeLessThan(5_000);

  const unknown = await httpRequest(`${server.url}/_standin/api/tunnels/nobody/check`, { method: 'POST' });
  expect(unknown.status).toBe(404);
});

test('with --health-path the probe GETs that path and a 5xx answer fails the check', async () => {
  const healthApp = await startLocalApp((req, res) => {
    res.writeHead(req.url === '/broken' ? 500 : 200);
    res.end();
  });
  const withPath = await startClientProcess(String(healthApp.port), server.url, ['--name', 'with-path', '--health-path', '/broken']);
  try {
    const response = await httpRequest(`${server.url}/_standin/api/tunnels/with-path/check`, { method: 'POST' });
    const result = JSON.parse(response.text);
    expect(result.check.ok).toBe(false);
    expect(result.check.error).toMatch(/GET \/broken answered 500/);
  } finally {
    await withPath.stop('SIGINT');
    await healthApp.close();
  }
});

test('a tunnel whose client is gone counts as down', async () => {
  const leaving = await startClientProcess(String(app.port), server.url, ['--name', 'leaving']);
  await eventually(async () => (await health('leaving')).status === 'healthy', 15_000);
  leaving.child.kill('SIGKILL');
  await leaving.exitedWithin();
  // SIGKILL leaves no release: the server notices when the client's polls stop.
  await eventually(async () => (await health('leaving')).status === 'down', 20_000, 250);
});

test('/_standin/metrics has the standin_ metrics in Prometheus text format', async () => {
  await httpRequest(`http://127.0.0.1:${client.port}/through`);
  const response = await httpRequest(`${server.url}/_standin/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toMatch(/text\/plain/);
  for (const name of [
    'standin_tunnels{state="active"}',
    'standin_tunnels_by_health{health="healthy"}',
    'standin_queued_requests',
    'standin_parked_requests',
    'standin_request_duration_seconds_bucket',
    'standin_transferred_bytes_total{direction="out"}',
    'standin_health_check_duration_seconds_bucket',
    'standin_errors_total',
  ]) {
    expect(response.text).toContain(name);
  }
  // The gauge has one series per state the server can hold a tunnel in, none for states it never reports.
  const stateSeries = [...response.text.matchAll(/^standin_tunnels\{state="([a-z]+)"\}/gm)].map((match) => match[1]);
  expect(stateSeries.sort()).toEqual(['active', 'pending', 'stopped']);
});

function countingApp(): http.RequestListener {
  return (req, res) => {
    appRequests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  };
}

test('a new tunnel is checked at its first poll, not a --health-interval later', async () => {
  const slowServer = await startServerProcess(['--health-interval', '10m']);
  const newcomer = await startClientProcess(String(app.port), slowServer.url, ['--name', 'newcomer']);
  try {
    const startedAt = Date.now();
    const view = async () => JSON.parse((await httpRequest(`${slowServer.url}/_standin/api/tunnels/newcomer`)).text).health;
    await eventually(async () => (await view()).status === 'healthy', 10_000);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect((await view()).history).toHaveLength(1);
  } finally {
    await newcomer.stop('SIGINT');
    await slowServer.stop();
  }
});
