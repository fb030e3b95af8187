/**
 * The real thing: a real Vite dev server as the local app, the real standin server and client,
 * and real headless Chromium loading the page through the tunnel port. Its hot-reload WebSocket
 * must cross the tunnel, and an edited module must reach the page without a full reload.
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { httpRequest } from './helpers/http';
import { startClientProcess, startServerProcess, StandinProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { launchChromium } from './helpers/chromium';

jest.setTimeout(120_000);

const VITE_SERVER_SCRIPT = path.resolve(__dirname, 'helpers/vite-dev-server.js');

let root: string;
let vite: StandinProcess;
let vitePort: number;
let server: ServerProcess;
let client: ClientProcess;
let browser: Browser;

beforeAll(async () => {
  root = writeViteProject();
  vite = new StandinProcess(spawn(process.execPath, [VITE_SERVER_SCRIPT, root], { stdio: ['ignore', 'pipe', 'pipe'] }));
  vitePort = Number((await vite.waitForLine((line) => line.message === 'vite ready', 60_000)).port);
  server = await startServerProcess(['--poll-timeout', '2s']);
  client = await startClientProcess(String(vitePort), server.url);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await client?.stop('SIGINT');
  await server?.stop();
  await vite?.stop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('a Vite page loaded through the tunnel hot-reloads an edited module over a WebSocket through the tunnel', async () => {
  const page: Page = await browser.newPage();
  const socketUrls: string[] = [];
  page.on('websocket', (socket) => socketUrls.push(socket.url()));
  const hmrConnected = page.waitForEvent('console', {
    predicate: (message) => message.text().includes('[vite] connected'),
    timeout: 30_000,
  });

  await page.goto(`${client.publicUrl}/`, { timeout: 30_000 });
  await page.waitForFunction("document.querySelector('#app')?.textContent === 'Hello from version 1'", undefined, { timeout: 30_000 });
  await hmrConnected;
  expect(socketUrls.length).toBeGreaterThan(0);
  for (const url of socketUrls) expect(new URL(url).port).toBe(String(client.port));
  await page.evaluate('window.__marker = 1');

  fs.writeFileSync(path.join(root, 'message.js'), "export const message = 'Hello from version 2';\n");
  await page.waitForFunction("document.querySelector('#app')?.textContent === 'Hello from version 2'", undefined, { timeout: 30_000 });
  // Still the same document: the module was swapped in place, not reloaded.
  expect(await page.evaluate('window.__marker')).toBe(1);
  for (const url of socketUrls) expect(new URL(url).port).toBe(String(client.port));

  const tunnel = JSON.parse((await httpRequest(`${server.url}/_standin/api/tunnels/${client.tunnel}`)).text);
  expect(tunnel.counters.upgrades).toBeGreaterThanOrEqual(1);
  await page.close();
});

/** A tiny Vite project: index.html, main.js rendering text from message.js, and an HMR accept for it. */
function writeViteProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-vite-'));
  fs.writeFileSync(
    path.join(dir, 'index.html'),
    '<!doctype html>\n<html><head><meta charset="utf-8"><title>standin vite test</title></head>\n<body><div id="app"></div><script type="module" src="/main.js"></script></body></html>\n',
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
