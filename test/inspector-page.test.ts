/**
 * The inspector page in a real browser (Debian chromium via playwright-core): live list without
 * reloading, details on click, Replay, filters and the HAR link, Copy as curl, Edit and replay,
 * and Compare with the cluster (the server has a --fallback "cluster" app).
 * With STANDIN_UPDATE_SCREENSHOT=1 it saves the screenshot for the README to docs/inspector.png.
 */

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { inspectPortBase } from './helpers/inspector';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { launchChromium } from './helpers/chromium';

jest.setTimeout(90_000);

const SCREENSHOT =
  process.env.STANDIN_UPDATE_SCREENSHOT === '1'
    ? path.resolve(__dirname, '../../docs/inspector.png')
    : path.join(os.tmpdir(), `standin-inspector-${process.pid}.png`);

/** The shop's product list: the laptop has the new prices, the cluster the old ones. */
function products(version: 'laptop' | 'cluster') {
  return {
    products: [
      { sku: 'TEA-01', name: 'Green tea', price: version === 'laptop' ? 4.5 : 4.9 },
      { sku: 'MUG-02', name: 'Stoneware mug', price: 12 },
    ],
    currency: 'EUR',
    ...(version === 'laptop' ? { banner: 'Spring sale' } : {}),
  };
}

let app: LocalApp;
let clusterApp: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let browser: Browser;
let page: Page;
let inspector: string;
const received: http.IncomingHttpHeaders[] = [];
const receivedRequests: { method: string; url: string; body: string }[] = [];
let clusterHits = 0;

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    received.push(req.headers);
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      receivedRequests.push({ method: req.method ?? '', url: req.url ?? '', body });
      if (req.url === '/api/missing') {
        res.writeHead(404, { 'content-type': 'application/json' });
        return void res.end('{"error":"not found"}');
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': 'laptop' });
      res.end(JSON.stringify(req.url?.startsWith('/api/products') ? products('laptop') : { hello: 'from the app', path: req.url }));
    });
  });
  // The in-cluster app the laptop stands in for: an older version that answers differently.
  clusterApp = await startLocalApp((req, res) => {
    clusterHits++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': 'cluster', 'cache-control': 'max-age=60' });
      res.end(JSON.stringify(req.url?.startsWith('/api/products') ? products('cluster') : { hello: 'from the cluster', path: req.url }));
    });
  });
  server = await startServerProcess(['--fallback', clusterApp.url]);
  client = await startClientProcess(String(app.port), server.url, ['--inspect', String(await inspectPortBase())]);
  inspector = String((await client.waitForLine((line) => line.message === 'tunnel ready')).inspectorUrl);
  browser = await launchChromium();
  page = await browser.newPage();
  page.setDefaultTimeout(15_000);
});

afterAll(async () => {
  await browser?.close();
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
  await clusterApp?.close();
});

test('a new request appears in the open page without reloading, newest on top', async () => {
  await page.goto(inspector);
  await page.locator('#live.on').waitFor();
  let navigations = 0;
  page.on('framenavigated', () => navigations++);
  await httpRequest(`${client.publicUrl}/first-page-request`);
  await page.locator('tbody tr', { hasText: '/first-page-request' }).waitFor();
  const response = await httpRequest(`${client.publicUrl}/second-page-request?q=2`);
  const id = String(response.headers['x-standin-request-id']);
  const newest = page.locator('tbody tr').first();
  await newest.filter({ hasText: '/second-page-request?q=2' }).waitFor();
  expect(await newest.getAttribute('data-id')).toBe(id);
  expect(await newest.textContent()).toContain('200');
  expect(navigations).toBe(0);
});

test('clicking a request shows its headers, pretty-printed body and timings', async () => {
  const response = await httpRequest(`${client.publicUrl}/clicked`, {
    method: 'POST',
    body: '{"a":{"b":1}}',
    headers: { 'content-type': 'application/json' },
  });
  const id = String(response.headers['x-standin-request-id']);
  await page.locator(`tbody tr[data-id="${id}"]`).click();
  const detail = page.locator('#detail');
  await detail.locator('h2', { hasText: 'POST /clicked' }).waitFor();
  const text = await detail.textContent();
  expect(text).toContain(`id ${id}`);
  expect(text).toContain('X-Standin-Request-Id');
  expect(text).toContain('Request headers');
  expect(text).toContain('Response headers');
  expect(text).toContain('queued on server');
  expect(text).not.toContain('null');
  expect(await detail.locator('pre').first().textContent()).toBe('{\n  "a": {\n    "b": 1\n  }\n}');
  expect(await page.locator(`tbody tr[data-id="${id}"]`).getAttribute('class')).toContain('selected');
});

test('Replay sends the request to the app again and the replay appears in the list', async () => {
  const response = await httpRequest(`${client.publicUrl}/replayed-from-page`);
  const id = String(response.headers['x-standin-request-id']);
  await page.locator(`tbody tr[data-id="${id}"]`).click();
  await page.locator('#detail h2', { hasText: '/replayed-from-page' }).waitFor();
  const before = received.length;
  await page.locator('#replay').click();
  await page.locator('#detail', { hasText: 'replayed as' }).waitFor();
  const replayRow = page.locator('tbody tr', { hasText: 'replay' }).filter({ hasText: '/replayed-from-page' }).first();
  await replayRow.waitFor();
  const replayId = await replayRow.getAttribute('data-id');
  expect(replayId).not.toBe(id);
  expect(received.length).toBe(before + 1);
  expect(received[received.length - 1]['x-standin-replay-of']).toBe(id);
  expect(received[received.length - 1]['x-standin-request-id']).toBe(replayId);
});

test('paths and headers are shown as text, never run as HTML', async () => {
  let alerted = false;
  page.on('dialog', (dialog) => {
    alerted = true;
    void dialog.dismiss();
  });
  await httpRequest(`${client.publicUrl}/%3Cimg%20src=x%20onerror=alert(1)%3E`, { headers: { 'x-evil': '<img src=x onerror=alert(2)>' } });
  const row = page.locator('tbody tr', { hasText: '/%3Cimg' }).first();
  await row.click();
  await page.locator('#detail', { hasText: '<img src=x onerror=alert(2)>' }).waitFor();
  expect(await page.locator('#detail img, tbody img').count()).toBe(0);
  expect(alerted).toBe(false);
});

test('at 1280 px a long Vite path leaves Status and Duration visible; the id column and the filter work; Host is the one the app got', async () => {
  const wide = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const longPath = `/node_modules/.vite/deps/chunk-${'ABCDEFGH'.repeat(12)}.js?v=0123456789abcdef`;
  const viaTunnel = await httpRequest(`${client.publicUrl}${longPath}`);
  await httpRequest(`${client.publicUrl}/api/cart`);
  await wide.goto(inspector);
  const longRow = wide.locator('#rows tr', { hasText: 'chunk-' });
  await longRow.waitFor();
  const viewportWidth = 1280;
  for (const column of [5, 6]) {
    const box = await longRow.locator(`td:nth-child(${column})`).boundingBox();
    expect(box).not.toBeNull();
    expect(box!.x + box!.width).toBeLessThanOrEqual(viewportWidth / 2 + 1);
  }
  const requestId = String(viaTunnel.headers['x-standin-request-id']);
  expect(await longRow.locator('td:nth-child(2)').textContent()).toBe(requestId.slice(0, 8));
  await wide.fill('#filter', 'cart');
  await wide.locator('#rows[data-query="text=cart"]').waitFor();
  const rowPaths = await wide.$$eval('#rows tr td.path', (cells) => cells.map((cell) => cell.textContent));
  expect(rowPaths).toEqual(['/api/cart']);
  await wide.fill('#filter', requestId.slice(0, 8));
  await wide.locator(`#rows[data-query="text=${requestId.slice(0, 8)}"]`).waitFor();
  expect(await wide.locator('#rows tr').count()).toBe(1);
  await wide.locator('#rows tr').click();
  await wide.waitForSelector('#detail dl');
  const detailText = await wide.textContent('#detail');
  expect(detailText).toContain(`Host${received.at(-2)?.host}`);
  await wide.close();
});

test('the filter bar narrows the list by method, status and path, and the HAR link downloads what is listed', async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const filtered = await context.newPage();
  const posted = await httpRequest(`${client.publicUrl}/filters/order`, {
    method: 'POST',
    body: '{"coupon":"SPRING-77"}',
    headers: { 'content-type': 'application/json' },
  });
  await httpRequest(`${client.publicUrl}/filters/order`);
  await httpRequest(`${client.publicUrl}/filters/other`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
  await filtered.goto(inspector);
  await filtered.locator('#live.on').waitFor();
  await filtered.selectOption('#f-method', 'POST');
  await filtered.fill('#f-path', '/filters/');
  await filtered.fill('#filter', 'spring-77');
  await filtered.locator('#rows[data-query="method=POST&path=%2Ffilters%2F&text=spring-77"]').waitFor();
  expect(await filtered.$$eval('#rows tr', (trs) => trs.map((tr) => tr.getAttribute('data-id')))).toEqual([
    String(posted.headers['x-standin-request-id']),
  ]);
  expect(await filtered.textContent('#count')).toMatch(/^1 of \d+ requests$/);
  expect(await filtered.getAttribute('#har', 'href')).toBe('/api/requests.har?method=POST&path=%2Ffilters%2F&text=spring-77');
  const [download] = await Promise.all([filtered.waitForEvent('download'), filtered.click('#har')]);
  expect(download.suggestedFilename()).toBe('standin-requests.har');
  const har = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  expect(har.log.version).toBe('1.2');
  expect(har.log.entries.map((entry: { _standinRequestId: string }) => entry._standinRequestId)).toEqual([
    String(posted.headers['x-standin-request-id']),
  ]);
  // A new request that matches appears live under the filter; one that does not stays out.
  await filtered.fill('#filter', '');
  await filtered.selectOption('#f-status', '2xx');
  await filtered.locator('#rows[data-query="method=POST&status=2xx&path=%2Ffilters%2F"]').waitFor();
  const rowsBefore = await filtered.locator('#rows tr').count();
  await httpRequest(`${client.publicUrl}/filters/late`, { method: 'POST', body: 'y', headers: { 'content-type': 'text/plain' } });
  await httpRequest(`${client.publicUrl}/filters/late-get`);
  await filtered.locator('#rows tr', { hasText: '/filters/late' }).first().waitFor();
  expect(await filtered.locator('#rows tr').count()).toBe(rowsBefore + 1);
  await context.close();
});

test('Copy as curl shows the command and puts it on the clipboard', async () => {
  const context = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
  const curlPage = await context.newPage();
  const response = await httpRequest(`${client.publicUrl}/curl-me?q=1`, { headers: { 'x-quote': "it's" } });
  const id = String(response.headers['x-standin-request-id']);
  await curlPage.goto(inspector);
  await curlPage.locator(`tbody tr[data-id="${id}"]`).click();
  await curlPage.locator('#detail h2', { hasText: '/curl-me' }).waitFor();
  await curlPage.click('#curl');
  const command = await curlPage.locator('#curl-command').textContent();
  expect(command).toContain(`--url 'http://localhost:${app.port}/curl-me?q=1'`);
  expect(command).toContain(`--header 'x-quote: it'\\''s'`);
  await curlPage.locator('#note', { hasText: 'curl command copied' }).waitFor();
  expect(await curlPage.evaluate('navigator.clipboard.readText()')).toBe(command);
  await context.close();
});

test('Edit and replay sends the edited method, path, headers and body to the app', async () => {
  const response = await httpRequest(`${client.publicUrl}/edit-from-page`, {
    method: 'POST',
    body: '{"qty":1}',
    headers: { 'content-type': 'application/json', 'x-note': 'before' },
  });
  const id = String(response.headers['x-standin-request-id']);
  await page.goto(inspector);
  await page.locator(`tbody tr[data-id="${id}"]`).click();
  await page.locator('#detail h2', { hasText: '/edit-from-page' }).waitFor();
  await page.click('#edit');
  expect(await page.inputValue('#edit-body')).toBe('{"qty":1}');
  expect(await page.inputValue('#edit-headers')).toContain('x-note: before');
  await page.fill('#edit-method', 'PUT');
  await page.fill('#edit-path', '/edited-from-page?v=2');
  await page.fill('#edit-headers', (await page.inputValue('#edit-headers')).replace('x-note: before', 'x-note: after'));
  await page.fill('#edit-body', '{"qty":5}');
  await page.click('#edit-send');
  await page.locator('#edit-result', { hasText: 'replayed as' }).waitFor();
  const got = receivedRequests[receivedRequests.length - 1];
  expect(got).toEqual({ method: 'PUT', url: '/edited-from-page?v=2', body: '{"qty":5}' });
  expect(received[received.length - 1]['x-note']).toBe('after');
  expect(received[received.length - 1]['x-standin-replay-of']).toBe(id);
  await page.locator('tbody tr', { hasText: '/edited-from-page?v=2' }).waitFor();
});

test('Compare with cluster shows both answers side by side with the differences marked', async () => {
  const response = await httpRequest(`${client.publicUrl}/compare-from-page`);
  const id = String(response.headers['x-standin-request-id']);
  await page.goto(inspector);
  await page.locator(`tbody tr[data-id="${id}"]`).click();
  await page.locator('#detail h2', { hasText: '/compare-from-page' }).waitFor();
  await page.click('#compare');
  await page.locator('#comparison').waitFor();
  expect(await page.textContent('#compare-summary')).toBe('same status · 2 headers differ · body differs');
  const headerRow = page.locator('#header-diff tr.diff', { hasText: 'x-served-by' });
  expect(await headerRow.locator('td').allTextContents()).toEqual(['x-served-by', 'laptop', 'cluster']);
  const bodyRow = page.locator('#body-diff tr.diff');
  expect(await bodyRow.locator('td').allTextContents()).toEqual(['$.hello', '"from the app"', '"from the cluster"']);
  expect(await page.locator('#comparison .compare pre').allTextContents()).toEqual([
    JSON.stringify({ hello: 'from the app', path: '/compare-from-page' }, null, 2),
    JSON.stringify({ hello: 'from the cluster', path: '/compare-from-page' }, null, 2),
  ]);
});

test("a page on another site cannot drive replays or comparisons through the developer's browser", async () => {
  const response = await httpRequest(`${client.publicUrl}/target-of-csrf`, {
    method: 'POST',
    body: 'secret',
    headers: { 'content-type': 'text/plain' },
  });
  const id = String(response.headers['x-standin-request-id']);
  const replayUrl = `${inspector}api/requests/${id}/replay`;
  const compareUrl = `${inspector}api/requests/${id}/compare`;
  // What a hostile page can do without a preflight: no-cors fetches and a form posting JSON-looking text.
  const evil = await startLocalApp((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form id="f" method="POST" enctype="text/plain" action="${replayUrl}"><input name='{"method":"DELETE","x":"' value='"}'></form>
<script>
fetch(${JSON.stringify(replayUrl)}, { method: 'POST', mode: 'no-cors' });
fetch(${JSON.stringify(compareUrl)}, { method: 'POST', mode: 'no-cors' });
fetch(${JSON.stringify(replayUrl)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"path":"/admin/delete-all"}' }).then(() => document.getElementById('f').submit());
</script>`);
  });
  const [appBefore, clusterBefore] = [receivedRequests.length, clusterHits];
  const attacked = await browser.newPage();
  const answers: number[] = [];
  attacked.on('response', (answer) => {
    if (answer.url().startsWith(inspector)) answers.push(answer.status());
  });
  try {
    await attacked.goto(`http://localhost:${evil.port}/`);
    await attacked.waitForURL(replayUrl);
    expect(await attacked.textContent('body')).toContain('forbidden_origin');
    expect(answers).toContain(403);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect([receivedRequests.length, clusterHits]).toEqual([appBefore, clusterBefore]);
  } finally {
    await attacked.close();
    await evil.close();
  }
});

test('the README screenshot: a filtered list and a comparison with the cluster', async () => {
  const shot = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await httpRequest(`${client.publicUrl}/`, { headers: { accept: 'text/html' } });
  await httpRequest(`${client.publicUrl}/api/cart`, {
    method: 'POST',
    body: '{"sku":"TEA-01","qty":2}',
    headers: { 'content-type': 'application/json' },
  });
  await httpRequest(`${client.publicUrl}/api/missing`);
  await httpRequest(`${client.publicUrl}/api/products?page=2`);
  const products = await httpRequest(`${client.publicUrl}/api/products?page=1`, { headers: { accept: 'application/json' } });
  await shot.goto(inspector);
  await shot.locator('#live.on').waitFor();
  await shot.fill('#f-path', '/api/');
  await shot.locator('#rows[data-query="path=%2Fapi%2F"]').waitFor();
  await shot.locator(`tbody tr[data-id="${String(products.headers['x-standin-request-id'])}"]`).click();
  await shot.locator('#detail h2', { hasText: '/api/products?page=1' }).waitFor();
  await shot.click('#compare');
  await shot.locator('#comparison').waitFor();
  expect(await shot.locator('#body-diff tr.diff').count()).toBe(2);
  await shot.screenshot({ path: SCREENSHOT });
  expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  await shot.close();
});
