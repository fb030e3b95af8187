/**
 * The real thing end to end: a real nginx as the cluster's web proxy, a real headless Chromium,
 * the real standin server and client processes, an "in-cluster" shop app and a developer's
 * local shop app.
 *
 * nginx, like a cluster proxy: `/` goes straight to the cluster app (the rest of the site),
 * `/shop/` and `/_standin/select/` go to standin's main port, whose --fallback is the cluster app.
 * A second nginx server block is a port-mode rule: it sends everything to the tunnel's own port.
 */

import fs from 'node:fs';
import http from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM_BIN, launchChromium } from './helpers/chromium';
import { downloadBlock, sendDownloadBlocks, startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { freePort, proxyTo, startNginx, type RunningNginx } from './helpers/nginx';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(90_000);

let clusterApp: LocalApp;
let laptopApp: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let nginx: RunningNginx;
let browser: Browser;
/** The site through nginx in selector mode, and the port-mode rule. */
let site: string;
let portModeSite: string;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM_BIN)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_BIN}: install the Debian package chromium (apt-get install chromium)`);
  }
  clusterApp = await startLocalApp(shopApp('cluster'));
  laptopApp = await startLocalApp(shopApp('laptop'));
  server = await startServerProcess(['--fallback', clusterApp.url]);
  client = await startClientProcess(String(laptopApp.port), server.url, ['--name', 'alice-shop']);
  const [sitePort, portModePort] = await Promise.all([freePort(), freePort()]);
  nginx = await startNginx(
    `
  server {
    listen 127.0.0.1:${sitePort};
    location / {
      ${proxyTo(clusterApp.url)}
    }
    location /shop/ {
      ${proxyTo(server.url)}
    }
    location /_standin/select/ {
      ${proxyTo(server.url)}
    }
  }
  server {
    listen 127.0.0.1:${portModePort};
    location / {
      ${proxyTo(client.publicUrl)}
    }
  }`,
    [sitePort, portModePort],
  );
  site = `http://127.0.0.1:${sitePort}`;
  portModeSite = `http://127.0.0.1:${portModePort}`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await nginx?.stop();
  await client?.stop('SIGINT');
  await server?.stop();
  await laptopApp?.close();
  await clusterApp?.close();
});

describe('selector mode behind nginx, in Chromium', () => {
  test('after /_standin/select/<name> the shop page and its fetch() calls come from the laptop; the rest of the site stays in the cluster', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const before = await page.goto(`${site}/shop/`);
      expect(before?.status()).toBe(200);
      await expectShop(page, 'cluster');

      const selected = await page.goto(`${site}/_standin/select/${client.tunnel}?to=/shop/`);
      expect(page.url()).toBe(`${site}/shop/`);
      expect(selected?.headers()['x-standin-tunnel']).toBe(client.tunnel);
      await expectShop(page, 'laptop');

      const [cookie] = (await context.cookies(site)).filter((c) => c.name === 'standin-tunnel');
      expect(cookie).toMatchObject({ value: client.tunnel, path: '/', httpOnly: true, sameSite: 'Lax' });

      // nginx sends / straight to the cluster: the cookie only matters on the paths standin serves.
      await page.goto(`${site}/`);
      expect(await page.textContent('h1')).toBe('cluster home');

      await page.goto(`${site}/_standin/select/none?to=/shop/`);
      await expectShop(page, 'cluster');
    } finally {
      await context.close();
    }
  });

  test('a browser without the cookie sees the cluster app at the same URL while another one sees the laptop', async () => {
    const developer = await browser.newContext();
    const colleague = await browser.newContext();
    try {
      const developerPage = await developer.newPage();
      await developerPage.goto(`${site}/_standin/select/${client.tunnel}?to=/shop/`);
      await expectShop(developerPage, 'laptop');
      const colleaguePage = await colleague.newPage();
      const response = await colleaguePage.goto(`${site}/shop/`);
      await expectShop(colleaguePage, 'cluster');
      expect(response?.headers()['x-standin-tunnel']).toBeUndefined();
      expect(response?.headers()['x-standin-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await developer.close();
      await colleague.close();
    }
  });

  test('the X-Standin-Tunnel header selects the laptop through nginx', async () => {
    const context = await browser.newContext({ extraHTTPHeaders: { 'X-Standin-Tunnel': client.tunnel } });
    try {
      const page = await context.newPage();
      await page.goto(`${site}/shop/`);
      await expectShop(page, 'laptop');
    } finally {
      await context.close();
    }
  });
});

describe('port mode behind nginx, in Chromium', () => {
  test('a proxy rule that points at the tunnel port serves the laptop to every browser', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const response = await page.goto(`${portModeSite}/shop/`);
      expect(response?.headers()['x-standin-tunnel']).toBe(client.tunnel);
      await expectShop(page, 'laptop');
    } finally {
      await context.close();
    }
  });
});

describe('through nginx over plain HTTP', () => {
  test('a host <tunnel>.<domain> selects the tunnel; nginx passes the Host on', async () => {
    const laptop = await httpRequest(`${site}/shop/api/who`, { headers: { host: `${client.tunnel}.shop.example.test` } });
    expect(JSON.parse(laptop.text).from).toBe('laptop');
    const cluster = await httpRequest(`${site}/shop/api/who`, { headers: { host: 'www.shop.example.test' } });
    expect(JSON.parse(cluster.text).from).toBe('cluster');
  });

  test('a 32 MiB download from the cluster app streams through nginx and the fallback intact', async () => {
    const response = await httpRequest(`${site}/shop/download?mib=32`, { timeoutMs: 40_000 });
    expect(response.status).toBe(200);
    expect(response.headers['x-from']).toBe('cluster');
    expect(response.body.length).toBe(32 * 1024 * 1024);
    expect(response.body.subarray(0, 251).equals(downloadBlock().subarray(0, 251))).toBe(true);
  });
});

async function expectShop(page: Page, from: 'cluster' | 'laptop'): Promise<void> {
  expect(await page.textContent('h1')).toBe(`${from} shop`);
  // The page's own fetch() goes through the same proxy and the same selection as the page.
  // A string, so the browser-side code needs no DOM types in this Node project.
  await page.waitForFunction(`document.getElementById('api')?.textContent === ${JSON.stringify(`api: ${from}`)}`, undefined, {
    timeout: 10_000,
  });
}

/** The shop app, in the cluster or on the laptop: a page that calls its API with fetch(). */
function shopApp(from: 'cluster' | 'laptop'): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    req.resume();
    if (url.pathname === '/shop/' || url.pathname === '/shop') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`<!doctype html><title>shop</title><h1>${from} shop</h1><p id="api">loading</p>
<script>fetch('/shop/api/who').then((r) => r.json()).then((who) => { document.getElementById('api').textContent = 'api: ' + who.from; });</script>`);
    } else if (url.pathname === '/shop/api/who') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ from, tunnelHeader: req.headers['x-standin-tunnel'] ?? null }));
    } else if (url.pathname === '/shop/download') {
      const mib = Number(url.searchParams.get('mib'));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mib * 1024 * 1024, 'x-from': from });
      sendDownloadBlocks(res, mib);
    } else if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>home</title><h1>${from} home</h1>`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  };
}
