/**
 * The dashboard in a real browser (Debian's chromium via playwright-core) against the real
 * server and clients: chips, time left colors, counters, sparkline, "Test now" and "Stop".
 * With STANDIN_UPDATE_SCREENSHOT=1 it saves the screenshot for the README to docs/dashboard.png.
 */

import os from 'node:os';
import path from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { eventually, httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { launchChromium } from './helpers/chromium';

jest.setTimeout(90_000);

const ADMIN_TOKEN = 'dashboard-admin-token';
const SCREENSHOT =
  process.env.STANDIN_UPDATE_SCREENSHOT === '1'
    ? path.resolve(__dirname, '../../docs/dashboard.png')
    : path.join(os.tmpdir(), `standin-dashboard-${process.pid}.png`);

let app: LocalApp;
let server: ServerProcess;
const clients: Record<string, ClientProcess> = {};
let browser: Browser;
let page: Page;

beforeAll(async () => {
  app = await startLocalApp((_req, res) => res.end('hello from the local app'));
  const closedPort = await freePortThatIsClosed();
  server = await startServerProcess(['--admin-token', ADMIN_TOKEN, '--health-interval', '1s']);
  const [ada, grace, linus, old] = await Promise.all([
    startClientProcess(String(app.port), server.url, ['--name', 'ada-shop-frontend']),
    startClientProcess(String(closedPort), server.url, ['--name', 'grace-vite-5173', '--ttl', '90m']),
    startClientProcess(String(app.port), server.url, ['--name', 'linus-orders-api', '--ttl', '45m']),
    startClientProcess(String(app.port), server.url, ['--name', 'old-demo', '--ttl', '2s']),
  ]);
  Object.assign(clients, { ada, grace, linus, old });
  for (let i = 0; i < 7; i++) await httpRequest(`${ada.publicUrl}/products/${i}`);
  await httpRequest(`${grace.publicUrl}/`, { headers: { accept: 'application/json' } });
  await old.exitedWithin();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(Object.values(clients).map((client) => client.stop('SIGINT')));
  await server?.stop();
  await app?.close();
});

const card = (name: string) => `.card[data-tunnel="${name}"]`;

test('the dashboard shows every tunnel with state and health chips, port, time left, counters and a latency sparkline', async () => {
  await page.goto(`${server.url}/_standin/`);
  await page.waitForSelector(card('ada-shop-frontend'), { timeout: 10_000 });
  // Let a few health checks land, so the sparkline has a line and the chips have settled.
  await eventually(
    async () => ((await page.locator(`${card('ada-shop-frontend')} .spark path`).getAttribute('d'))?.split('L').length ?? 0) >= 6,
    20_000,
    250,
  );
  await eventually(async () => (await page.textContent(`${card('grace-vite-5173')} .chip.health`)) === 'down', 20_000, 250);

  expect(await page.textContent(`${card('ada-shop-frontend')} .chip.state`)).toBe('active');
  expect(await chipColor(page, `${card('ada-shop-frontend')} .chip.state`)).toBe('rgb(31, 157, 85)');
  expect(await page.textContent(`${card('ada-shop-frontend')} .chip.health`)).toBe('healthy');
  expect(await page.textContent(`${card('ada-shop-frontend')} .port`)).toBe(String(clients.ada.port));
  expect(await page.textContent(`${card('ada-shop-frontend')} .left`)).toMatch(/^1[12]h \d+m left$/);
  expect(await page.getAttribute(`${card('ada-shop-frontend')} .left`, 'class')).toBe('left ');
  expect(await page.textContent(`${card('ada-shop-frontend')} .counters`)).toContain('7requests');
  expect(await page.textContent(`${card('ada-shop-frontend')} .last-checked`)).toMatch(/^\d+s ago$/);

  expect(await page.getAttribute(`${card('grace-vite-5173')} .left`, 'class')).toBe('left orange');
  expect(await chipColor(page, `${card('grace-vite-5173')} .chip.health`)).toBe('rgb(198, 40, 40)');
  expect(await page.textContent(`${card('grace-vite-5173')} .counters`)).toContain('1errors');
  expect(await page.getAttribute(`${card('linus-orders-api')} .left`, 'class')).toBe('left red');
  expect(await page.textContent(`${card('linus-orders-api')} .left`)).toMatch(/^4\dm \d+s left$/);

  expect(await page.textContent(`${card('old-demo')} .chip.state`)).toBe('stopped');
  expect(await chipColor(page, `${card('old-demo')} .chip.state`)).toBe('rgb(107, 114, 128)');
  expect(await page.textContent(`${card('old-demo')} .left`)).toBe('Expired');
  expect(await page.isDisabled(`${card('old-demo')} button.stop`)).toBe(true);

  expect(await page.locator('.card .recent-requests').count()).toBe(4);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
});

test('"Test now" runs a check and says its result on the card', async () => {
  await page.click(`${card('ada-shop-frontend')} button.test`);
  await textMatches(`${card('ada-shop-frontend')} .note`, /^Healthy, \d+ ms$/);
  await page.click(`${card('grace-vite-5173')} button.test`);
  await textMatches(`${card('grace-vite-5173')} .note`, /^Failed: could not connect/);
});

test('"Stop" asks for a token once (no prompt per click): a wrong one is refused, the admin token stops the tunnel and its client exits 4', async () => {
  page.on('dialog', () => {
    throw new Error('the dashboard must not use window.prompt');
  });
  await page.click(`${card('linus-orders-api')} button.stop`);
  await page.waitForSelector('#sign-in:not([hidden])', { timeout: 5_000 });
  await page.fill('#token', 'wrong-token');
  await page.click('#sign-in button[type="submit"]');
  await page.click(`${card('linus-orders-api')} button.stop`);
  await textMatches(`${card('linus-orders-api')} .note`, /admin token/);
  expect(clients.linus.child.exitCode).toBeNull();

  await page.click('#sign-out');
  await page.click('#sign-in-link');
  await page.fill('#token', ADMIN_TOKEN);
  await page.click('#sign-in button[type="submit"]');
  expect(
    await page.evaluate(() =>
      (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('standin-token'),
    ),
  ).toBe(ADMIN_TOKEN);
  await page.click(`${card('linus-orders-api')} button.stop`);
  await textMatches(`${card('linus-orders-api')} .chip.state`, /^stopped$/);
  expect(await clients.linus.exitedWithin()).toBe(4);
  expect(await page.textContent(`${card('linus-orders-api')} .left`)).toBe('Stopped by an admin');
});

/** Waits (bounded) until the element's text matches; the page redraws every 2 s. */
function textMatches(selector: string, pattern: RegExp): Promise<void> {
  return eventually(async () => pattern.test((await page.textContent(selector, { timeout: 2_000 })) ?? ''), 10_000, 100);
}

/** The computed text color of an element, as chromium resolved the CSS. */
/**
 * The computed color of a chip. The page re-renders its cards every second: a chip replaced between
 * finding it and reading its style is detached and has no computed color (""), so read again, a
 * bounded number of times.
 */
async function chipColor(target: Page, selector: string): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const color = await target
      .locator(selector)
      .evaluate(
        (element) => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(element).color,
      );
    if (color) return color;
    await target.waitForTimeout(100);
  }
  return '';
}

/** A loopback port with nothing listening: the "developer forgot to start the app" case. */
async function freePortThatIsClosed(): Promise<number> {
  const probe = await startLocalApp(() => undefined);
  const port = probe.port;
  await probe.close();
  return port;
}
