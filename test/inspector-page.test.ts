/**
 * The inspector page in a real browser (Debian chromium via playwright-core): live list without
 * reloading, details on click, Replay.
 */

import http from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { inspectPortBase } from './helpers/inspector';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(90_000);

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let browser: Browser;
let page: Page;
let inspector: string;
const received: http.IncomingHttpHeaders[] = [];

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    received.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hello: 'from the app', path: req.url }));
    });
  });
  server = await startServerProcess();
  client = await startClientProcess(String(app.port), server.url, ['--inspect', String(await inspectPortBase())]);
  inspector = String((await client.waitForLine((line) => line.message === 'tunnel ready')).inspectorUrl);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  page = await browser.newPage();
  page.setDefaultTimeout(15_000);
});

afterAll(async () => {
  await browser?.close();
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
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
  const response = await httpRequest(`${client.publicUrl}/clicked`, { method: 'POST', body: '{"a":{"b":1}}', headers: { 'content-type': 'application/json' } });
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
  const rowsMatchFilter = await wide.$$eval('#rows tr', (trs) => trs.every((tr) => tr.classList.contains('filtered') !== (tr.textContent ?? '').includes('/api/cart')));
  expect(rowsMatchFilter).toBe(true);
  await wide.fill('#filter', requestId.slice(0, 8));
  expect(await wide.locator('#rows tr:not(.filtered)').count()).toBe(1);
  await wide.locator('#rows tr:not(.filtered)').click();
  await wide.waitForSelector('#detail dl');
  const detailText = await wide.textContent('#detail');
  expect(detailText).toContain(`Host${received.at(-2)?.host}`);
  await wide.close();
});
