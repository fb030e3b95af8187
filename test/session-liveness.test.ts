/** When the server considers a client session gone. */

import { SessionLiveness } from '../server/core/session-liveness';

test('a session holding polls or answering requests is alive however long it has been silent', () => {
  const liveness = new SessionLiveness(7_000);
  const later = Date.now() + 60_000;
  expect(liveness.isAlive(1, 0, later)).toBe(true);
  expect(liveness.isAlive(0, 2, later)).toBe(true);
});

test('a session with nothing open is alive until poll-timeout + grace after it was last heard', () => {
  const liveness = new SessionLiveness(7_000);
  const heardAt = liveness.lastHeardAt;
  expect(liveness.isAlive(0, 0, heardAt + 6_999)).toBe(true);
  expect(liveness.isAlive(0, 0, heardAt + 7_000)).toBe(false);
});

test('a client that closed its held poll is gone at once, until it is heard again', () => {
  const liveness = new SessionLiveness(7_000);
  liveness.peerLeft();
  expect(liveness.isAlive(0, 0)).toBe(false);
  liveness.heard();
  expect(liveness.isAlive(0, 0)).toBe(true);
});
