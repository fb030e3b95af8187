/**
 * Private tunnels in a real browser (Debian's chromium via playwright-core): `standin connect
 * --private` prints an access link; the browser that opened it reaches the developer's app on
 * the main port and on the tunnel's own port; a bare visit, a forged cookie and a wrong key get
 * 403 tunnel_private.
 */

import { type Browser } from 'playwright-core';
import { httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { launchChromium } from './helpers/chromium';

jest.setTimeout(60_000);

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let browser: Browser;
let accessLink: string;

beforeAll(async () => {
  app = await startLocalApp((_req, res) => res.end('<h1>the private local app</h1>'));
  server = await startServerProcess([]);
  client = await startClientProcess(String(app.port), server.url, ['--name', 'secret-shop', '--private', '--no-inspect']);
  const ready = await client.waitForLine((line) => line.message === 'tunnel ready');
  accessLink = String(ready.accessLink);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

test('the client prints an access link with a key', () => {
  expect(accessLink).toMatch(/^\/_standin\/select\/secret-shop\?key=[A-Za-z0-9_-]{20,}$/);
});

test('the browser that opened the access link reaches the app; a fresh browser gets 403 tunnel_private', async () => {
  const insider = await browser.newContext();
  try {
    const page = await insider.newPage();
    const opened = await page.goto(`${server.url}${accessLink}`);
    expect(opened?.status()).toBe(200);
    expect(await page.textContent('h1')).toBe('the private local app');
    const onItsPort = await page.goto(`${client.publicUrl}/`);
    expect(onItsPort?.status()).toBe(200);
  } finally {
    await insider.close();
  }

  const outsider = await browser.newContext();
  try {
    const page = await outsider.newPage();
    const bare = await page.goto(`${client.publicUrl}/`);
    expect(bare?.status()).toBe(403);
    expect(await bare?.headerValue('x-standin-error')).toBe('tunnel_private');
    expect(await page.textContent('body')).toContain('private');
    // Selecting it without the key (the cookie alone) is not enough either.
    const selected = await page.goto(`${server.url}/_standin/select/secret-shop`);
    expect(selected?.status()).toBe(403);
  } finally {
    await outsider.close();
  }
});

test('a wrong key and a forged access cookie are refused', async () => {
  const wrongKey = await httpRequest(`${server.url}/_standin/select/secret-shop?key=not-the-key`);
  expect(wrongKey.status).toBe(403);
  expect(wrongKey.headers['set-cookie']).toBeUndefined();
  const forged = await httpRequest(`${client.publicUrl}/`, { headers: { cookie: 'standin-access-secret-shop=forged' } });
  expect(forged.status).toBe(403);
  expect(server.lines.some((line) => JSON.stringify(line).includes(accessLink.split('key=')[1]))).toBe(false);
});
