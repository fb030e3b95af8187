/**
 * --status-access and the clean-up of abandoned registrations, on in-process servers (real
 * sockets, no client processes): who may read the status API and see owners and targets, and
 * that a registration that never polls gives its port and name back after 30 s while a stopped
 * tunnel is forgotten after --forget-after.
 */

import yargs from 'yargs';
import { serverOptions, toServerConfig } from '../server/config';
import { startStandinServer, type RunningServer } from '../server/standin-server';
import { sweepAbandoned, NEVER_POLLED_GRACE_MS } from '../server/lifecycle/tunnel-sweeper';
import { InMemoryPortPool } from '../server/core/port-pool';
import { createLogger } from '#shared/logger';
import { httpRequest } from './helpers/http';
import { PROTOCOL_VERSION } from '#shared/protocol/version';

const SHARED = 'shared-client-token';
const ADMIN = 'the-admin-token';

const running: RunningServer[] = [];

async function startServer(args: string[]): Promise<{ url: string; server: RunningServer }> {
  const from = 20_000 + Math.floor(Math.random() * 400) * 100;
  const argv = serverOptions(yargs([]))
    .strict()
    .parseSync(['--listen', '0', '--ports', `${from}-${from + 9}`, '--admin-token', ADMIN, ...args]);
  const server = await startStandinServer(toServerConfig(argv), createLogger({ format: 'json', level: 'error' }));
  running.push(server);
  return { url: `http://127.0.0.1:${server.mainPort}`, server };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

const get = (url: string, token?: string) => httpRequest(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
const register = (url: string, name: string, token = SHARED) =>
  httpRequest(`${url}/_standin/v1/tunnels`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ protocol: PROTOCOL_VERSION, name, target: 'http://localhost:3000', owner: 'ada@laptop' }),
  });

test('default with a client token is "token": anonymous readers get 401, token holders see owners and targets', async () => {
  const { url } = await startServer(['--token', SHARED]);
  await register(url, 'shop');
  expect((await get(`${url}/_standin/api/tunnels`)).status).toBe(401);
  const listed = JSON.parse((await get(`${url}/_standin/api/tunnels`, SHARED)).text);
  expect(listed[0].client).toMatchObject({ owner: 'ada@laptop', target: 'http://localhost:3000' });
  // Probes and metrics stay open: nothing about owners in them.
  expect((await get(`${url}/_standin/healthz`)).status).toBe(200);
  expect((await get(`${url}/_standin/metrics`)).status).toBe(200);
  expect((await get(`${url}/_standin/metrics`)).text).not.toContain('ada@laptop');
});

test('"open": anyone lists tunnels, but owners, targets, recent requests and "Test now" need a token', async () => {
  const { url } = await startServer(['--token', SHARED, '--status-access', 'open']);
  await register(url, 'shop');
  const anonymous = JSON.parse((await get(`${url}/_standin/api/tunnels`)).text);
  expect(anonymous[0]).toMatchObject({ name: 'shop', client: { owner: null, target: null } });
  expect((await get(`${url}/_standin/api/tunnels/shop/requests`)).status).toBe(403);
  expect((await httpRequest(`${url}/_standin/api/tunnels/shop/check`, { method: 'POST' })).status).toBe(401);
  expect(JSON.parse((await get(`${url}/_standin/api/tunnels/shop`, SHARED)).text).client.owner).toBe('ada@laptop');
  expect((await get(`${url}/_standin/api/tunnels`, 'a-wrong-token')).status).toBe(401);
});

test('"admin": only admins read status; the shared token gets 403', async () => {
  const { url } = await startServer(['--token', SHARED, '--status-access', 'admin']);
  expect((await get(`${url}/_standin/api/tunnels`, SHARED)).status).toBe(403);
  expect((await get(`${url}/_standin/api/tunnels`)).status).toBe(401);
  expect((await get(`${url}/_standin/api/tunnels`, ADMIN)).status).toBe(200);
});

test('a server without client auth defaults to "open" and shows everything', async () => {
  const { url } = await startServer([]);
  await register(url, 'demo');
  expect(JSON.parse((await get(`${url}/_standin/api/tunnels`)).text)[0].client.owner).toBe('ada@laptop');
});

test('a registration that never polls gives its port and name back after 30 s; a stopped tunnel is forgotten after --forget-after', async () => {
  const { url, server } = await startServer(['--token', SHARED, '--forget-after', '1h']);
  const ctx = server.context;
  const first = JSON.parse((await register(url, 'silent')).text) as { port: number; claimKey: string };
  expect(first.claimKey).toBeDefined();
  sweepAbandoned(ctx, Date.now() + NEVER_POLLED_GRACE_MS - 1_000);
  expect(ctx.registry.get('silent')).toBeDefined();
  sweepAbandoned(ctx, Date.now() + NEVER_POLLED_GRACE_MS + 1_000);
  expect(ctx.registry.get('silent')).toBeUndefined();
  expect(ctx.portPool?.nameForPort(first.port)).toBeUndefined();
  // The name is free again: anyone may claim it, without the old key.
  expect((await register(url, 'silent')).status).toBe(201);

  const stopped = ctx.registry.get('silent')!;
  stopped.session.hasPolled = true;
  stopped.stop('released');
  sweepAbandoned(ctx, Date.now() + 30 * 60_000);
  expect(ctx.registry.get('silent')).toBeDefined();
  sweepAbandoned(ctx, Date.now() + 61 * 60_000);
  expect(ctx.registry.get('silent')).toBeUndefined();
  // Its claim outlives it (--claim-ttl): the name is still reserved for its holder.
  expect((await register(url, 'silent')).status).toBe(409);
});

test("port pool: a preferred port is granted only when free or already the caller's", () => {
  const pool = new InMemoryPortPool({ from: 9000, to: 9002 });
  expect(pool.reserve('alice', 9001, () => false)).toBe(9001);
  pool.markIdle('alice');
  // Alice is offline, but 9001 is still hers to come back to.
  expect(pool.reserve('mallory', 9001, () => false)).not.toBe(9001);
  expect(pool.reserve('alice', 9001, () => false)).toBe(9001);
  pool.release('alice');
  expect(pool.reserve('bob', 9001, () => false)).toBe(9001);
});
