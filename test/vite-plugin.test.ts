/**
 * The Vite plugin as a developer uses it: a Vite project whose vite.config.mjs imports
 * `standin/vite`, started with the real `vite dev` CLI; the tunnel starts with it, its URL prints
 * with Vite's, real Chromium loads the page through that URL and hot-reloads an edited module
 * over the tunnel, and the tunnel is released when Vite stops (SIGTERM, as Vite handles it).
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Browser } from 'playwright-core';
import { httpRequest } from './helpers/http';
import { startServerProcess, StandinProcess, type ServerProcess } from './helpers/processes';
import { launchChromium } from './helpers/chromium';

jest.setTimeout(120_000);

const repository = path.resolve(__dirname, '../..');

let server: ServerProcess;
let project: string;
let home: string;
let browser: Browser | undefined;
let vite: StandinProcess | undefined;

beforeAll(async () => {
  server = await startServerProcess(['--poll-timeout', '2s']);
  project = writeViteProject();
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-vite-home-'));
  browser = await launchChromium();
});

afterAll(async () => {
  await vite?.stop('SIGKILL');
  await browser?.close();
  await server?.stop();
  for (const dir of [project, home]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("vite dev starts the tunnel, prints its URL with Vite's, hot-reloads through it in Chromium, and releases it on stop", async () => {
  const vitePort = await freePort();
  fs.writeFileSync(
    path.join(project, 'vite.config.mjs'),
    [
      "import standin from 'standin/vite';",
      'export default {',
      '  clearScreen: false,',
      `  server: { host: '127.0.0.1', port: ${vitePort}, strictPort: true },`,
      '  plugins: [',
      `    standin({ server: ${JSON.stringify(server.url.replace('127.0.0.1', 'localhost'))}, name: 'vite-plugin' }),`,
      "    { name: 'report-allowed-hosts', configResolved: (config) => console.log('allowedHosts=' + JSON.stringify(config.server.allowedHosts)) },",
      '  ],',
      '};',
      '',
    ].join('\n'),
  );
  // NO_COLOR: Vite colours its output whenever CI is set (picocolors), which splits the URL lines this test reads.
  vite = new StandinProcess(
    spawn(process.execPath, [path.join(repository, 'node_modules/vite/bin/vite.js'), 'dev'], {
      cwd: project,
      env: { ...process.env, HOME: home, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );

  const allowedHosts = String((await vite.waitForLine((line) => String(line.message).startsWith('allowedHosts='), 60_000)).message);
  // The server's host, from the plugin (Vite adds its own host beside it).
  expect(JSON.parse(allowedHosts.slice('allowedHosts='.length))).toContain('localhost');
  await vite.waitForLine((line) => String(line.message).includes(`http://127.0.0.1:${vitePort}/`), 60_000);
  const printed = String((await vite.waitForLine((line) => /Standin: http:\/\//.test(String(line.message)), 30_000)).message);
  const tunnelUrl = /(http:\/\/localhost:\d+\/)/.exec(printed)?.[1] ?? '';
  const tunnelPort = new URL(tunnelUrl).port;
  expect(tunnelPort).not.toBe(String(vitePort));

  const page = await browser!.newPage();
  const socketUrls: string[] = [];
  page.on('websocket', (socket) => socketUrls.push(socket.url()));
  const hmrConnected = page.waitForEvent('console', {
    predicate: (message) => message.text().includes('[vite] connected'),
    timeout: 30_000,
  });
  await page.goto(tunnelUrl, { timeout: 30_000 });
  await page.waitForFunction("document.querySelector('#app')?.textContent === 'Hello from version 1'", undefined, { timeout: 30_000 });
  await hmrConnected;
  await page.evaluate('window.__marker = 1');
  fs.writeFileSync(path.join(project, 'message.js'), "export const message = 'Hello from version 2';\n");
  await page.waitForFunction("document.querySelector('#app')?.textContent === 'Hello from version 2'", undefined, { timeout: 30_000 });
  expect(await page.evaluate('window.__marker')).toBe(1);
  expect(socketUrls.length).toBeGreaterThan(0);
  for (const url of socketUrls) expect(new URL(url).port).toBe(tunnelPort);
  await page.close();

  const listed = await httpRequest(`${server.url}/_standin/api/tunnels/vite-plugin`);
  expect(listed.status).toBe(200);
  vite.child.kill('SIGTERM');
  expect(await vite.exitedWithin(20_000)).not.toBeNull();
  await server.waitForLine((line) => line.message === 'released tunnel' && line.tunnel === 'vite-plugin', 5_000);
  expect((await httpRequest(`http://127.0.0.1:${tunnelPort}/`)).status).toBe(503);
});

/** A Vite project with standin and vite installed (linked to this repository's). */
function writeViteProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-vite-plugin-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(repository, path.join(dir, 'node_modules', 'standin'), 'dir');
  fs.symlinkSync(path.join(repository, 'node_modules', 'vite'), path.join(dir, 'node_modules', 'vite'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'vite-app', private: true, type: 'module' }));
  fs.writeFileSync(
    path.join(dir, 'index.html'),
    '<!doctype html>\n<html><head><meta charset="utf-8"><title>standin vite plugin</title></head>\n<body><div id="app"></div><script type="module" src="/main.js"></script></body></html>\n',
  );
  fs.writeFileSync(path.join(dir, 'message.js'), "export const message = 'Hello from version 1';\n");
  fs.writeFileSync(
    path.join(dir, 'main.js'),
    [
      "import { message } from './message.js';",
      "const render = (text) => { document.querySelector('#app').textContent = text; };",
      'render(message);',
      "if (import.meta.hot) import.meta.hot.accept('./message.js', (updated) => render(updated.message));",
      '',
    ].join('\n'),
  );
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
