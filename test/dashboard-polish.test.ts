/**
 * Dashboard details a new operator trips over: a new tunnel is checked at once, counters fit
 * one row at 1280 px, the uptime line does not contradict the health chip, and the empty state
 * mentions the token when the server wants one. In chromium, against real processes.
 */

import { type Browser } from 'playwright-core';
import { eventually } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ServerProcess, type StandinProcess } from './helpers/processes';
import { launchChromium } from './helpers/chromium';

jest.setTimeout(90_000);

let app: LocalApp;
const running: StandinProcess[] = [];
let browser: Browser;

beforeAll(async () => {
  app = await startLocalApp((_req, res) => res.end('ok'));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(running.map((process) => process.stop('SIGINT')));
  await app?.close();
});

async function server(args: string[] = []): Promise<ServerProcess> {
  const started = await startServerProcess(args);
  running.push(started);
  return started;
}

test('at 1280 px the counters fit one row, and the uptime line says it counts checks over 24 h', async () => {
  // Health checks every second, so the uptime line has a check to count within the wait below.
  const standin = await server(['--health-interval', '1s']);
  running.push(await startClientProcess(String(app.port), standin.url, ['--name', 'a-rather-long-tunnel-name-for-layout', '--no-inspect']));
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${standin.url}/_standin/`);
  await page.waitForSelector('.card .counters');
  const rowTops = await page.$$eval('.card .counters > div', (cells) => [
    ...new Set(cells.map((cell) => Math.round(cell.getBoundingClientRect().top))),
  ]);
  expect(rowTops).toHaveLength(1);
  await eventually(async () => /% of checks passed \(24 h\)/.test((await page.textContent('.card .spark-label')) ?? ''), 10_000, 200);
  await page.close();
});

test('the empty state of a server with a token shows the connect line with STANDIN_TOKEN', async () => {
  const standin = await server(['--token', 'dashboard-token-77']);
  const page = await browser.newPage();
  await page.goto(`${standin.url}/_standin/`);
  // With a token the status API is for token holders (--status-access token): sign in first.
  await page.waitForSelector('#sign-in:not([hidden])');
  await page.fill('#token', 'dashboard-token-77');
  await page.press('#token', 'Enter');
  await page.waitForSelector('#empty:not([hidden])');
  expect(await page.textContent('#connect-hint')).toBe(`STANDIN_TOKEN=<token> standin connect 3000 --server ${standin.url}`);
  expect(await page.content()).not.toContain('dashboard-token-77');
  await page.close();
});
