/** The command line as a user meets it: exit codes, tokens, port mode, and standin's own errors. */

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startLocalApp, echoHandler, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { spawnStandin, startClientProcess, startServerProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

let app: LocalApp;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    if (url.pathname === '/hang') return; // never answers
    echoHandler()(req, res);
  });
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

afterAll(async () => {
  await app?.close();
});

async function server(args: string[] = []): Promise<ServerProcess> {
  const started = await startServerProcess(args);
  servers.push(started);
  return started;
}

function tempHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'standin-home-'));
}

test('a wrong token exits with code 3, says so, and never prints the token', async () => {
  const secured = await server(['--token', 'right-token-1234']);
  const client = spawnStandin(['connect', String(app.port), '--server', secured.url, '--token', 'wrong-token-5678'], { HOME: tempHome() });
  expect(await client.exitedWithin()).toBe(3);
  const output = JSON.stringify(client.lines) + client.stderr.join('');
  expect(output).toMatch(/authentication refused/);
  expect(output).not.toContain('wrong-token-5678');
  expect(output).not.toContain('right-token-1234');
  expect(JSON.stringify(secured.lines)).not.toContain('right-token-1234');
});

test('the right token (from STANDIN_TOKEN) connects', async () => {
  const secured = await server(['--token', 'right-token-1234']);
  const client = await startClientProcess(String(app.port), secured.url, [], { env: { STANDIN_TOKEN: 'right-token-1234' } });
  expect((await httpRequest(`${client.publicUrl}/`)).status).toBe(200);
  expect(await client.stop('SIGINT')).toBe(0);
});

test('the client API answers 401 without the token, before revealing anything', async () => {
  const secured = await server(['--token', 'right-token-1234']);
  for (const [method, url] of [
    ['POST', '/_standin/v1/tunnels'],
    ['GET', '/_standin/v1/tunnels/x/poll'],
    ['GET', '/_standin/v1/nothing-here'],
  ]) {
    const response = await httpRequest(`${secured.url}${url}`, { method });
    expect(response.status).toBe(401);
    expect(JSON.parse(response.text)).toMatchObject({ error: 'unauthorized' });
  }
});

test('usage errors exit with code 2 and a clear message', async () => {
  const noServer = spawnStandin(['connect', '3000'], { HOME: tempHome() });
  expect(await noServer.exitedWithin()).toBe(2);
  expect(noServer.stderr.join('')).toContain('--server is required');
  const badName = spawnStandin(['connect', '3000', '--server', 'http://127.0.0.1:1', '--name', 'Not_A_Label'], { HOME: tempHome() });
  expect(await badName.exitedWithin()).toBe(2);
  expect(badName.stderr.join('')).toContain('is not a DNS label');
  const badFlag = spawnStandin(['server', '--no-such-flag']);
  expect(await badFlag.exitedWithin()).toBe(2);
  const badRange = spawnStandin(['server', '--ports', '9100-9000']);
  expect(await badRange.exitedWithin()).toBe(2);
  expect(badRange.stderr.join('')).toContain('--ports');
});

test('Ctrl-C exits 0 and releases the tunnel: its port then answers 503 tunnel_offline', async () => {
  const running = await server();
  const client = await startClientProcess(String(app.port), running.url, ['--name', 'ctrl-c']);
  expect(await client.stop('SIGINT')).toBe(0);
  await running.waitForLine((line) => line.message === 'released tunnel' && line.tunnel === 'ctrl-c');
  const after = await httpRequest(`${client.publicUrl}/`);
  expect(after.status).toBe(503);
  expect(after.headers['x-standin-error']).toBe('tunnel_offline');
});

test('a tunnel gets its preferred port, and gets it again on the next run without --port', async () => {
  const running = await server();
  const home = tempHome();
  const preferred = running.portRange.from + 7;
  const first = await startClientProcess(String(app.port), running.url, ['--name', 'mine', '--port', String(preferred)], { home });
  expect(first.port).toBe(preferred);
  await first.stop('SIGINT');
  const state = JSON.parse(fs.readFileSync(path.join(home, '.standin', 'state.json'), 'utf8'));
  expect(state.tunnels[running.url].mine.port).toBe(preferred);
  const second = await startClientProcess(String(app.port), running.url, ['--name', 'mine'], { home });
  expect(second.port).toBe(preferred);
  await second.stop('SIGINT');
});

test('a port held by another live tunnel is not taken; the tunnel gets another one', async () => {
  const running = await server();
  const preferred = running.portRange.from + 3;
  const holder = await startClientProcess(String(app.port), running.url, ['--name', 'holder', '--port', String(preferred)]);
  const other = await startClientProcess(String(app.port), running.url, ['--name', 'other', '--port', String(preferred)]);
  expect(holder.port).toBe(preferred);
  expect(other.port).not.toBe(preferred);
  expect((await httpRequest(`${holder.publicUrl}/`)).headers['x-standin-request-id']).toBeDefined();
  await Promise.all([holder.stop('SIGINT'), other.stop('SIGINT')]);
});

test('when every port is held by a live tunnel, registration fails with a clear message', async () => {
  const from = 20_000 + Math.floor(Math.random() * 400) * 100 + 60;
  const tiny = await server(['--ports', `${from}-${from}`]);
  const first = await startClientProcess(String(app.port), tiny.url, ['--name', 'first']);
  const second = spawnStandin(['connect', String(app.port), '--server', tiny.url, '--name', 'second'], { HOME: tempHome() });
  expect(await second.exitedWithin()).toBe(1);
  expect(JSON.stringify(second.lines)).toContain(`every port in ${from}-${from} is held by a live tunnel`);
  await first.stop('SIGINT');
});

test('when another process holds every port, registration fails saying so, not blaming live tunnels', async () => {
  const holder = await new Promise<net.Server>((resolve) => {
    const held = net.createServer().listen(0, '0.0.0.0', () => resolve(held));
  });
  try {
    const heldPort = (holder.address() as net.AddressInfo).port;
    const running = await server(['--ports', `${heldPort}-${heldPort}`]);
    const client = spawnStandin(['connect', String(app.port), '--server', running.url, '--name', 'crowded-out'], { HOME: tempHome() });
    expect(await client.exitedWithin()).toBe(1);
    const output = JSON.stringify(client.lines);
    expect(output).toContain(`every port in ${heldPort}-${heldPort} is in use by another process (${heldPort})`);
    expect(output).not.toContain('held by a live tunnel');
  } finally {
    holder.close();
  }
});

test('an app that is not running gives 502 app_unreachable with a page saying what to do', async () => {
  const running = await server();
  const closed = await startLocalApp(echoHandler());
  await closed.close();
  const client = await startClientProcess(String(closed.port), running.url, ['--name', 'no-app']);
  const html = await httpRequest(`${client.publicUrl}/`);
  expect(html.status).toBe(502);
  expect(html.headers['x-standin-error']).toBe('app_unreachable');
  expect(html.headers['content-type']).toContain('text/html');
  expect(html.text).toContain('Start your app');
  expect(html.text).toContain(String(html.headers['x-standin-request-id']));
  const json = await httpRequest(`${client.publicUrl}/api`, { headers: { accept: 'application/json' } });
  expect(JSON.parse(json.text)).toMatchObject({ error: 'app_unreachable', tunnel: 'no-app' });
  const logged = await running.waitForLine((line) => line.requestId === html.headers['x-standin-request-id']);
  expect(logged).toMatchObject({ error: 'app_unreachable', status: 502 });
  await client.stop('SIGINT');
});

test('no response head within --request-timeout gives 504 timeout, and other requests keep flowing', async () => {
  const running = await server(['--request-timeout', '1s']);
  const client = await startClientProcess(String(app.port), running.url, ['--name', 'slowpoke']);
  const started = Date.now();
  const [hung, fine] = await Promise.all([httpRequest(`${client.publicUrl}/hang`), httpRequest(`${client.publicUrl}/fine`)]);
  expect(hung.status).toBe(504);
  expect(hung.headers['x-standin-error']).toBe('timeout');
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(fine.status).toBe(200);
  await client.stop('SIGINT');
});

test('past --max-queue waiting requests, the next one gets 503 queue_full at once', async () => {
  const running = await server(['--max-queue', '1', '--request-timeout', '2s']);
  const client = await startClientProcess(String(app.port), running.url, ['--name', 'narrow', '--concurrency', '1']);
  // One request occupies the only poll, one waits in the queue, the third finds it full.
  const occupying = httpRequest(`${client.publicUrl}/hang`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const queued = httpRequest(`${client.publicUrl}/hang`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const rejected = await httpRequest(`${client.publicUrl}/third`);
  expect(rejected.status).toBe(503);
  expect(rejected.headers['x-standin-error']).toBe('queue_full');
  expect((await occupying).status).toBe(504);
  expect((await queued).status).toBe(504);
  await client.stop('SIGINT');
});

test('an upload with Expect: 100-continue goes through', async () => {
  const running = await server();
  const client = await startClientProcess(String(app.port), running.url, ['--name', 'expect']);
  const response = await httpRequest(`${client.publicUrl}/upload`, {
    method: 'POST',
    body: 'x'.repeat(5000),
    headers: { expect: '100-continue' },
  });
  expect(response.status).toBe(200);
  expect(JSON.parse(response.text).bodyBytes).toBe(5000);
  await client.stop('SIGINT');
});
