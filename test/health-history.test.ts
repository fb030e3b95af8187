/** The health history ring buffer: bounded memory, the 24 h window, uptime and incidents. */

import { HEALTH_HISTORY_WINDOW_MS, HealthHistory, historyCapacityFor } from '../server/lifecycle/health-history';

test('capacity follows the interval and is capped', () => {
  expect(historyCapacityFor(60_000)).toBe(Math.ceil(1440 * 1.25) + 8);
  expect(historyCapacityFor(1)).toBe(86_400);
});

test('the ring keeps only the newest `capacity` checks, however many are recorded', () => {
  const history = new HealthHistory(10);
  const start = Date.now() - 1_000_000;
  for (let i = 0; i < 1_000; i++) history.record({ at: start + i, ok: i % 2 === 0, latencyMs: i, error: i % 2 ? 'no' : undefined });
  expect(history.size).toBe(10);
  const checks = history.checks(start + 1_000);
  expect(checks.map((check) => check.latencyMs)).toEqual([990, 991, 992, 993, 994, 995, 996, 997, 998, 999]);
  expect(history.checks(start + 1_000, 3).map((check) => check.latencyMs)).toEqual([997, 998, 999]);
  expect(history.last?.latencyMs).toBe(999);
});

test('checks older than 24 h leave the window, and with them uptime and incidents', () => {
  const history = new HealthHistory(100);
  const now = 10 * HEALTH_HISTORY_WINDOW_MS;
  history.record({ at: now - HEALTH_HISTORY_WINDOW_MS - 1, ok: false, latencyMs: null, error: 'old' });
  history.record({ at: now - 3_000, ok: true, latencyMs: 5 });
  expect(history.checks(now)).toHaveLength(1);
  expect(history.uptimePct(now)).toBe(100);
  expect(history.incidents(now)).toEqual([]);
});

test('uptime and incidents are derived from the checks, and lastHealthyAt and failures in a row are tracked', () => {
  const history = new HealthHistory(100);
  const now = 1_000_000;
  const results = [true, false, false, true, true, false];
  results.forEach((ok, i) =>
    history.record({ at: now - 6_000 + i * 1_000, ok, latencyMs: ok ? 3 : null, error: ok ? undefined : `failure ${i}` }),
  );
  expect(history.uptimePct(now)).toBe(50);
  expect(history.incidents(now)).toEqual([
    { startedAt: now - 5_000, endedAt: now - 3_000, cause: 'failure 1' },
    { startedAt: now - 1_000, endedAt: null, cause: 'failure 5' },
  ]);
  expect(history.consecutiveFailures).toBe(1);
  expect(history.lastHealthyAt).toBe(now - 2_000);
  expect(new HealthHistory(5).uptimePct(now)).toBeNull();
});
