/**
 * "Public URLs that work": the server says how browsers reach a tunnel (--site, --host-url,
 * --port-url), the registration answer carries those links, and the client prints only them.
 */

import { echoHandler, startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { spawnStandin, startClientProcess, startServerProcess, type ServerProcess, type StandinProcess } from './helpers/processes';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import type { TunnelStatus } from '#shared/protocol/status-api';

jest.setTimeout(60_000);

let app: LocalApp;
const running: StandinProcess[] = [];

beforeAll(async () => {
  app = await startLocalApp(echoHandler());
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((process) => process.stop('SIGINT')));
});

afterAll(async () => {
  await app?.close();
});

async function server(args: string[]): Promise<ServerProcess> {
  const started = await startServerProcess(args);
  running.push(started);
  return started;
}

test('with --site, --host-url and --port-url the client prints exactly those links, without colour codes when not on a terminal', async () => {
  const standin = await server([
    '--site',
    'https://www.example.test',
    '--host-url',
    'https://{name}.dev.example.test',
    '--port-url',
    'https://standin.example.test:{port}',
  ]);
  const client = spawnStandin(['connect', String(app.port), '--server', standin.url, '--name', 'alice-shop', '--no-inspect'], {
    STANDIN_LOG_FORMAT: 'pretty',
  });
  running.push(client);
  await client.waitForLine((line) => String(line.message).includes('Ctrl-C releases the tunnel'));
  const printed = client.lines.map((line) => line.message).join('\n');
  const port = standin.portRange.from;
  expect(printed).toContain(`Port URL          https://standin.example.test:${port}/`);
  expect(printed).toContain('Host URL          https://alice-shop.dev.example.test/');
  expect(printed).toContain('Select by cookie  https://www.example.test/_standin/select/alice-shop');
  // The old guess, http://<server host>:<port>/, is unreachable behind an ingress: never printed.
  expect(printed).not.toContain(`http://127.0.0.1:${port}`);
  // stdout is a pipe here, so no ANSI escape codes.
  expect(printed).not.toContain('\x1b[');
});

test('the registration answer and the status API carry the same urls; the default port link uses the host the client used', async () => {
  const standin = await server([]);
  const client = await startClientProcess(String(app.port), standin.url, ['--name', 'plain', '--no-inspect']);
  running.push(client);
  const ready = client.lines.find((line) => line.message === 'tunnel ready');
  expect(ready?.urls).toEqual({ port: `http://127.0.0.1:${client.port}/` });
  const viaLocalhost = JSON.parse((await httpRequest(`http://localhost:${standin.mainPort}/_standin/api/tunnels`)).text) as TunnelStatus[];
  expect(viaLocalhost[0].urls).toEqual({ port: `http://localhost:${client.port}/` });
});

test('without port mode there is no port link, and a hostile Host header yields no link at all', async () => {
  const standin = await server(['--ports', 'none']);
  const registered = await httpRequest(`${standin.url}/_standin/v1/tunnels`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'no-ports', target: 'http://localhost:1', protocol: PROTOCOL_VERSION }),
  });
  expect(registered.status).toBe(201);
  expect(JSON.parse(registered.text).urls).toEqual({});
  const other = await server([]);
  const hostile = await httpRequest(`${other.url}/_standin/v1/tunnels`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', host: 'evil.test@other.test' },
    body: JSON.stringify({ name: 'hostile-host', target: 'http://localhost:1', protocol: PROTOCOL_VERSION }),
  });
  expect(JSON.parse(hostile.text).urls).toEqual({});
});

test('--bind ::1 serves the main port and tunnel ports on ::1 only', async () => {
  const standin = await server(['--bind', '::1']);
  const client = await startClientProcess(String(app.port), `http://[::1]:${standin.mainPort}`, ['--name', 'six', '--no-inspect']);
  running.push(client);
  expect((await httpRequest(`http://[::1]:${client.port}/`)).status).toBe(200);
  await expect(httpRequest(`http://127.0.0.1:${client.port}/`)).rejects.toThrow(/ECONNREFUSED/);
  await expect(httpRequest(`http://127.0.0.1:${standin.mainPort}/_standin/healthz`)).rejects.toThrow(/ECONNREFUSED/);
});

test('bad --site, --host-url, --port-url and --bind values exit 2 naming the flag', async () => {
  const cases: Array<[string[], string]> = [
    [['--site', 'ftp://www.example.test'], '--site "ftp://www.example.test" must be an http:// or https:// URL'],
    [['--host-url', 'https://dev.example.test'], '--host-url "https://dev.example.test" must contain {name}'],
    [['--port-url', 'ftp://standin:{port}'], '--port-url'],
    [['--bind', 'everywhere'], '--bind "everywhere" is not an IP address'],
  ];
  for (const [args, message] of cases) {
    const bad = spawnStandin(['server', '--listen', '0', '--ports', 'none', ...args]);
    expect(await bad.exitedWithin()).toBe(2);
    expect(bad.stderr.join('')).toContain(message);
  }
});
