/** The client's reconnect delays: growth, cap, jitter bounds and reset. */

import { ReconnectBackoff, withJitter } from '../client/session/reconnect-backoff';

const noJitter = () => 0.5;

test('delays start at 1 s and double', () => {
  const backoff = new ReconnectBackoff(64_000, noJitter);
  expect([1, 2, 3, 4, 5, 6, 7].map(() => backoff.next())).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000]);
});

test('delays stop growing at the maximum', () => {
  const backoff = new ReconnectBackoff(10_000, noJitter);
  const delays = Array.from({ length: 50 }, () => backoff.next());
  expect(delays.slice(4)).toEqual(Array(46).fill(10_000));
});

test('jitter stays within ±25% of the base delay', () => {
  for (let i = 0; i < 1_000; i++) {
    const backoff = new ReconnectBackoff(64_000);
    for (let step = 0; step < 8; step++) {
      const base = Math.min(1_000 * 2 ** step, 64_000);
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(base * 0.75);
      expect(delay).toBeLessThanOrEqual(base * 1.25);
    }
  }
  expect(withJitter(1_000, 0)).toBe(750);
  expect(withJitter(1_000, 0.999999)).toBe(1_250);
});

test('jitter spreads delays rather than repeating one value', () => {
  const delays = new Set(Array.from({ length: 100 }, () => new ReconnectBackoff(64_000).next()));
  expect(delays.size).toBeGreaterThan(20);
});

test('reset starts again from 1 s', () => {
  const backoff = new ReconnectBackoff(64_000, noJitter);
  backoff.next();
  backoff.next();
  backoff.next();
  expect(backoff.attempts).toBe(3);
  backoff.reset();
  expect(backoff.attempts).toBe(0);
  expect(backoff.next()).toBe(1_000);
});

test('a maximum below 1 s caps even the first delay', () => {
  const backoff = new ReconnectBackoff(500, noJitter);
  expect(backoff.next()).toBe(500);
});
