/**
 * The pages a browser meets on the main port when it has not (or no longer) picked a working
 * tunnel: links to the live tunnels, how to clear a stale cookie, a marked fallback response,
 * and an HTML answer for a mistyped select link. The 404 page is clicked through in chromium.
 */

import { type Browser } from 'playwright-core';
import { httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ServerProcess, type StandinProcess } from './helpers/processes';
import { launchChromium } from './helpers/chromium';

jest.setTimeout(90_000);

let app: LocalApp;
let fallbackApp: LocalApp;
let plain: ServerProcess;
let withFallback: ServerProcess;
const running: StandinProcess[] = [];
let browser: Browser;

beforeAll(async () => {
  app = await startLocalApp((_req, res) => res.end('hello from the laptop'));
  fallbackApp = await startLocalApp((_req, res) => res.end('hello from the cluster'));
  [plain, withFallback] = await Promise.all([startServerProcess(), startServerProcess(['--fallback', fallbackApp.url])]);
  running.push(plain, withFallback);
  running.push(await startClientProcess(String(app.port), plain.url, ['--name', 'alice-shop', '--no-inspect']));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(running.map((process) => process.stop('SIGINT')));
  await Promise.all([app?.close(), fallbackApp?.close()]);
});

test('the no_tunnel page links each connected tunnel; following a link selects it and comes back to the page', async () => {
  const page = await browser.newPage();
  const first = await page.goto(`${plain.url}/shop/cart`);
  expect(first?.status()).toBe(404);
  const link = page.getByRole('link', { name: 'Use tunnel alice-shop' });
  expect(await link.getAttribute('href')).toBe('/_standin/select/alice-shop?to=%2Fshop%2Fcart');
  await link.click();
  await page.waitForURL(`${plain.url}/shop/cart`);
  expect(await page.textContent('body')).toBe('hello from the laptop');
  await page.close();
});

test('a cookie for a tunnel that is gone (no fallback) says how to clear the cookie', async () => {
  const response = await httpRequest(`${plain.url}/shop/`, { headers: { cookie: 'standin-tunnel=gone-tunnel', accept: 'text/html' } });
  expect(response.status).toBe(503);
  expect(response.text).toContain('/_standin/select/none');
  expect(response.text).toContain('standin-tunnel cookie');
  // A header selection is deliberate, not a stale cookie: no cookie advice then.
  const byHeader = await httpRequest(`${plain.url}/shop/`, { headers: { 'x-standin-tunnel': 'gone-tunnel', accept: 'application/json' } });
  expect(JSON.parse(byHeader.text).advice).not.toContain('/_standin/select/none');
});

test('responses from the fallback say so, and why, in X-Standin-Fallback', async () => {
  const unselected = await httpRequest(`${withFallback.url}/shop/`);
  expect(unselected.text).toBe('hello from the cluster');
  expect(unselected.headers['x-standin-fallback']).toBe('no_selector');
  const stale = await httpRequest(`${withFallback.url}/shop/`, { headers: { cookie: 'standin-tunnel=gone-tunnel' } });
  expect(stale.headers['x-standin-fallback']).toBe('unknown_tunnel');
});

test('a mistyped select link gets an HTML page in a browser and JSON for scripts', async () => {
  const page = await browser.newPage();
  const response = await page.goto(`${plain.url}/_standin/select/Not_A_Name`);
  expect(response?.status()).toBe(400);
  expect(response?.headers()['content-type']).toContain('text/html');
  expect(await page.textContent('h1')).toBe('Not a tunnel name');
  await page.close();
  const script = await httpRequest(`${plain.url}/_standin/select/Not_A_Name`);
  expect(JSON.parse(script.text)).toMatchObject({ error: 'bad_request' });
});

test('metrics count fallback traffic by reason, fallback_unreachable and no_tunnel errors', async () => {
  const closed = await startLocalApp((_req, res) => res.end());
  await closed.close();
  const broken = await startServerProcess(['--fallback', closed.url]);
  running.push(broken);
  expect((await httpRequest(`${broken.url}/shop/`)).status).toBe(502);
  await httpRequest(`${withFallback.url}/shop/a`);
  await httpRequest(`${withFallback.url}/shop/b`, { headers: { cookie: 'standin-tunnel=nobody-here' } });
  await httpRequest(`${plain.url}/nothing-selected`);
  const metricValue = (text: string, series: string) =>
    Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const brokenMetrics = (await httpRequest(`${broken.url}/_standin/metrics`)).text;
  expect(metricValue(brokenMetrics, 'standin_errors_total{code="fallback_unreachable"}')).toBe(1);
  expect(metricValue(brokenMetrics, 'standin_fallback_requests_total{reason="no_selector"}')).toBe(1);
  const fallbackMetrics = (await httpRequest(`${withFallback.url}/_standin/metrics`)).text;
  expect(metricValue(fallbackMetrics, 'standin_fallback_requests_total{reason="no_selector"}')).toBeGreaterThanOrEqual(2);
  expect(metricValue(fallbackMetrics, 'standin_fallback_requests_total{reason="unknown_tunnel"}')).toBeGreaterThanOrEqual(2);
  const plainMetrics = (await httpRequest(`${plain.url}/_standin/metrics`)).text;
  expect(metricValue(plainMetrics, 'standin_errors_total{code="no_tunnel"}')).toBeGreaterThanOrEqual(1);
});
