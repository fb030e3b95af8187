/**
 * The programmatic API as users call it: scripts that `import { connect } from 'standin'` (ESM)
 * and `require('standin')` (CommonJS) through the package's own entry, and a test that drives
 * real Chromium through a tunnel it opened with connect(). Real server process, real local app.
 */

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Browser } from 'playwright-core';
import { AuthRefusedError, ConfigError, connect, StandinError, type TunnelRequest } from '../client/api';
import { eventually, httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startServerProcess, type ServerProcess } from './helpers/processes';
import { launchChromium } from './helpers/chromium';

jest.setTimeout(90_000);

const repository = path.resolve(__dirname, '../..');

let server: ServerProcess;
let app: LocalApp;
let home: string;
let projectDir: string;
let browser: Browser | undefined;
const originalHome = process.env.HOME;

beforeAll(async () => {
  server = await startServerProcess(['--token', 'api-secret', '--poll-timeout', '2s']);
  app = await startLocalApp((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>app</title><p id="where">local app saw ${req.method} ${req.url}</p>`);
  });
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-api-home-'));
  // connect() remembers ports under $HOME/.standin, as the CLI does: keep it out of the real home.
  process.env.HOME = home;
  // A user's project with standin installed: node_modules/standin is this repository.
  projectDir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-api-project-'));
  fs.mkdirSync(path.join(projectDir, 'node_modules'));
  fs.symlinkSync(repository, path.join(projectDir, 'node_modules', 'standin'), 'dir');
});

afterAll(async () => {
  process.env.HOME = originalHome;
  await browser?.close();
  await app?.close();
  await server?.stop();
  for (const dir of [home, projectDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs a script file of the user's project; resolves with its stdout lines as JSON. */
function runScript(fileName: string, source: string): Promise<Array<Record<string, unknown>>> {
  fs.writeFileSync(path.join(projectDir, fileName), source);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [fileName],
      { cwd: projectDir, timeout: 30_000, env: { ...process.env, HOME: home } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${fileName} failed: ${error.message}\n${stderr}`));
        else
          resolve(
            stdout
              .trim()
              .split('\n')
              .map((line) => JSON.parse(line) as Record<string, unknown>),
          );
      },
    );
  });
}

/** A script that opens a tunnel, fetches through it, and closes it, printing what it saw. */
function scriptBody(name: string): string {
  return `
  const tunnel = await connect({ target: ${app.port}, server: ${JSON.stringify(server.url)}, token: 'api-secret', name: '${name}' });
  const seen = new Promise((resolve) => tunnel.once('request', resolve));
  console.log(JSON.stringify({ name: tunnel.name, urls: tunnel.urls }));
  const answer = await fetch(tunnel.urls.port + 'hello?from=script');
  const request = await seen;
  console.log(JSON.stringify({ status: answer.status, body: await answer.text(), event: { path: request.path, status: request.status, requestId: request.requestId } }));
  await tunnel.close();
  console.log(JSON.stringify({ closed: true }));
  `;
}

test('an ES module script imports connect from "standin", serves a request through the tunnel and closes it', async () => {
  const lines = await runScript('tunnel.mjs', `import { connect } from 'standin';\n${scriptBody('api-esm')}`);
  expect(lines[0]).toEqual({ name: 'api-esm', urls: { port: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/) } });
  expect(lines[1]).toMatchObject({
    status: 200,
    body: expect.stringContaining('local app saw GET /hello?from=script'),
    event: { path: '/hello?from=script', status: 200 },
  });
  expect(lines[2]).toEqual({ closed: true });
  // Released: the server no longer knows the tunnel.
  const released = await httpRequest(`${String(lines[0].urls && (lines[0].urls as { port: string }).port)}`, { timeoutMs: 5_000 }).catch(
    () => null,
  );
  expect(released?.status === 200).toBe(false);
});

test('a CommonJS script requires "standin" and gets the same API', async () => {
  const lines = await runScript(
    'tunnel.cjs',
    `const { connect, StandinError, TunnelError } = require('standin');\n(async () => {\n${scriptBody('api-cjs')}\n console.log(JSON.stringify({ errorClass: typeof StandinError, oldNameIsSameClass: TunnelError === StandinError }));\n})();`,
  );
  expect(lines[0]).toMatchObject({ name: 'api-cjs' });
  expect(lines[1]).toMatchObject({ status: 200, event: { path: '/hello?from=script', status: 200 } });
  expect(lines[3]).toEqual({ errorClass: 'function', oldNameIsSameClass: true });
});

test('the package ships type declarations for its entry', () => {
  const packageJson = JSON.parse(fs.readFileSync(path.join(repository, 'package.json'), 'utf8')) as {
    types: string;
    exports: Record<string, { types: string }>;
  };
  const declarations = fs.readFileSync(path.join(repository, packageJson.exports['.'].types), 'utf8');
  expect(declarations).toContain('export declare function connect(');
  expect(declarations).toContain('export declare class Tunnel');
});

test('failures reject with typed errors and stable codes', async () => {
  const refused = await connect({ target: app.port, server: server.url, token: 'wrong', name: 'api-refused', reconnect: false }).catch(
    (error: unknown) => error,
  );
  expect(refused).toBeInstanceOf(AuthRefusedError);
  expect((refused as StandinError).code).toBe('unauthorized');

  const badName = await connect({ target: app.port, server: server.url, name: 'Not A Label' }).catch((error: unknown) => error);
  expect(badName).toBeInstanceOf(ConfigError);
  expect((badName as StandinError).code).toBe('config_error');

  const unknownOption = await connect({ target: app.port, server: server.url, colour: 'blue' } as never).catch((error: unknown) => error);
  expect(unknownOption).toBeInstanceOf(ConfigError);
  expect((unknownOption as Error).message).toContain('colour');

  const aborted = new AbortController();
  aborted.abort();
  const closedFirst = await connect({
    target: app.port,
    server: server.url,
    token: 'api-secret',
    name: 'api-aborted',
    signal: aborted.signal,
  }).catch((error: unknown) => error);
  expect(closedFirst).toBeInstanceOf(StandinError);
  expect((closedFirst as StandinError).code).toBe('closed');
});

test('a Playwright test opens a tunnel with connect() and drives Chromium through it', async () => {
  const tunnel = await connect({ target: app.port, server: server.url, token: 'api-secret', name: 'api-browser' });
  const requests: TunnelRequest[] = [];
  tunnel.on('request', (request) => requests.push(request));
  let closeError: unknown = 'not closed';
  tunnel.on('close', (error) => (closeError = error));
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${tunnel.urls.port}checkout`, { timeout: 20_000 });
    expect(await page.textContent('#where')).toBe('local app saw GET /checkout');
    await eventually(() => requests.some((request) => request.path === '/checkout'), 10_000);
    const request = requests.find((seen) => seen.path === '/checkout');
    expect(request).toMatchObject({ method: 'GET', status: 200, tunnel: 'api-browser' });
    expect(request?.requestId).toMatch(/^[0-9a-f-]{36}$/);
  } finally {
    await tunnel.close();
  }
  await tunnel.closed;
  expect(closeError).toBeUndefined();
});
