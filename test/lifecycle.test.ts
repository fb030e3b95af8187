/**
 * Tunnel lifecycle end to end: expiry with a short --ttl, --renew, and an admin stop, each with
 * its whole cascade (browser requests, the client's exit code, the port, the state).
 */

import http from 'node:http';
import type { TunnelStatus } from '#shared/protocol/status-api';
import { eventually, httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

const ADMIN_TOKEN = 'admin-secret-for-tests';

let app: LocalApp;
let server: ServerProcess;
const clients: ClientProcess[] = [];

beforeAll(async () => {
  app = await startLocalApp(slowOrFastApp());
  server = await startServerProcess(['--admin-token', ADMIN_TOKEN]);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.stop('SIGINT')));
  await server?.stop();
  await app?.close();
});

async function connect(name: string, extraArgs: string[] = []): Promise<ClientProcess> {
  const client = await startClientProcess(String(app.port), server.url, ['--name', name, ...extraArgs]);
  clients.push(client);
  return client;
}

async function tunnelStatus(name: string): Promise<TunnelStatus> {
  const response = await httpRequest(`${server.url}/_standin/api/tunnels/${name}`);
  expect(response.status).toBe(200);
  return JSON.parse(response.text);
}

test('a tunnel with a short --ttl stops within 2 s of expiresAt: requests get 503 tunnel_expired, the client exits 4, the state is stopped', async () => {
  const client = await connect('short-life', ['--ttl', '3s']);
  const ready = await client.waitForLine((line) => line.message === 'tunnel ready');
  const expiresAt = Date.parse(String(ready.expiresAt));
  expect((await httpRequest(`${client.publicUrl}/fast`)).status).toBe(200);

  // One request the app holds (handed to the client, unanswered) when the tunnel expires.
  const held = httpRequest(`${client.publicUrl}/slow`, { headers: { accept: 'application/json' }, timeoutMs: 20_000 });
  const exitCode = await client.exitedWithin();
  const stoppedSeenAt = Date.now();

  expect(exitCode).toBe(4);
  expect(client.lines.some((line) => String(line.message).includes('the tunnel expired'))).toBe(true);
  // Less than 10 minutes of life from the start: the one warning comes at once.
  expect(client.lines.filter((line) => line.message === 'tunnel expires soon')).toHaveLength(1);
  const heldResponse = await held;
  expect(heldResponse.status).toBe(503);
  expect(heldResponse.headers['x-standin-error']).toBe('tunnel_expired');
  // docs/design.md "Tunnel lifecycle and health": within 2 s after expiresAt; the client's exit adds a process exit, and the CPU is shared.
  expect(stoppedSeenAt - expiresAt).toBeLessThan(2_000 + 2_000);
  expect(stoppedSeenAt).toBeGreaterThanOrEqual(expiresAt);

  const status = await tunnelStatus('short-life');
  expect(status.state).toBe('stopped');
  expect(status.stopReason).toBe('expired');
  const afterwards = await httpRequest(`${client.publicUrl}/fast`);
  expect(afterwards.status).toBe(503);
  expect(afterwards.headers['x-standin-error']).toBe('tunnel_expired');
  const expiredLine = await server.waitForLine((line) => line.message === 'tunnel expired' && line.tunnel === 'short-life');
  expect(Date.parse(String(expiredLine.timestamp)) - expiresAt).toBeLessThan(2_000);
});

test('with --renew an expired tunnel registers again on the same port and keeps serving', async () => {
  const client = await connect('renewing', ['--ttl', '2s', '--renew']);
  const renewed = await client.waitForLine((line) => line.message === 'tunnel renewed', 15_000);
  expect(renewed.port).toBe(client.port);
  await client.waitForLine((line) => line.message === 'tunnel renewed' && line !== renewed, 15_000);
  expect(client.child.exitCode).toBeNull();
  await eventually(async () => (await httpRequest(`${client.publicUrl}/fast`)).status === 200, 10_000);
  expect(['pending', 'active']).toContain((await tunnelStatus('renewing')).state);
});

test('stopping a tunnel needs the admin token: 401 without it, and with it the whole cascade and exit 4', async () => {
  const client = await connect('admin-target');
  const url = `${server.url}/_standin/api/tunnels/admin-target`;

  const anonymous = await httpRequest(url, { method: 'DELETE' });
  expect(anonymous.status).toBe(401);
  const wrong = await httpRequest(url, { method: 'DELETE', headers: { authorization: 'Bearer not-the-token' } });
  expect(wrong.status).toBe(401);
  expect((await tunnelStatus('admin-target')).state).not.toBe('stopped');

  const held = httpRequest(`${client.publicUrl}/slow`, { headers: { accept: 'application/json' }, timeoutMs: 20_000 });
  await eventually(async () => (await tunnelStatus('admin-target')).counters.inFlight === 1, 10_000);
  const stopped = await httpRequest(url, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(stopped.status).toBe(200);
  expect(JSON.parse(stopped.text).state).toBe('stopped');

  const heldResponse = await held;
  expect(heldResponse.status).toBe(503);
  expect(heldResponse.headers['x-standin-error']).toBe('tunnel_offline');
  expect(await client.exitedWithin()).toBe(4);
  expect(client.lines.some((line) => line.message === 'an admin stopped the tunnel' && line.reason === 'stopped')).toBe(true);
  expect((await tunnelStatus('admin-target')).stopReason).toBe('stopped');
  const afterwards = await httpRequest(`${client.publicUrl}/fast`, { headers: { accept: 'application/json' } });
  expect(afterwards.status).toBe(503);
  expect(JSON.parse(afterwards.text).message).toBe('Tunnel admin-target was stopped by an admin.');
});

test('the status API answers 404 for an unknown tunnel', async () => {
  const response = await httpRequest(`${server.url}/_standin/api/tunnels/no-such-tunnel`);
  expect(response.status).toBe(404);
  expect(JSON.parse(response.text).error).toBe('not_found');
});

/** /slow never answers by itself (it is cut when the app closes); anything else answers at once. */
function slowOrFastApp(): http.RequestListener {
  return (req, res) => {
    if (req.url === '/slow') return;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('fast');
  };
}
