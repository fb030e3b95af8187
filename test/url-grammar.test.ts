import { isRegisterPath, parseTunnelPath, PATHS, type TunnelPath } from '#shared/protocol/paths';

const NAME = 'my-app';
const REQUEST_ID = '0f2a6c1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';

/** Every path the client builds, with what the server must read from it. */
const BUILT: [string, TunnelPath][] = [
  [PATHS.tunnel(NAME), { endpoint: 'release', name: NAME }],
  [PATHS.poll(NAME), { endpoint: 'poll', name: NAME }],
  [PATHS.respond(NAME, REQUEST_ID), { endpoint: 'respond', name: NAME, requestId: REQUEST_ID }],
  [PATHS.respondToSeveral(NAME), { endpoint: 'respondToSeveral', name: NAME }],
  [PATHS.outbound(NAME), { endpoint: 'outbound', name: NAME }],
  [PATHS.compare(NAME), { endpoint: 'compare', name: NAME }],
];

test.each(BUILT)('the server reads %s as the endpoint the client built it for', (path, expected) => {
  expect(parseTunnelPath(path)).toEqual(expected);
  expect(parseTunnelPath(`${path}/`)).toEqual(expected);
  expect(parseTunnelPath(`${path}?x=1&y=/z`)).toEqual(expected);
  expect(isRegisterPath(path)).toBe(false);
});

test('registration is its own path, with or without a query, and names no tunnel', () => {
  expect(isRegisterPath(PATHS.register)).toBe(true);
  expect(isRegisterPath(`${PATHS.register}?x=1`)).toBe(true);
  expect(isRegisterPath(`${PATHS.register}/`)).toBe(false);
  expect(parseTunnelPath(PATHS.register)).toBeUndefined();
});

test('segments come back as sent, for the server to validate', () => {
  expect(parseTunnelPath('/_standin/v1/tunnels/NOT_A_LABEL/poll')).toEqual({ endpoint: 'poll', name: 'NOT_A_LABEL' });
  expect(parseTunnelPath('/_standin/v1/tunnels/a/responses/not-a-uuid')).toEqual({
    endpoint: 'respond',
    name: 'a',
    requestId: 'not-a-uuid',
  });
});

test.each([
  '/_standin/v1/tunnels/',
  '/_standin/v1/tunnels//poll',
  '/_standin/v1/tunnelsx/a',
  '/_standin/v1/tunnels/a/pollx',
  '/_standin/v1/tunnels/a/poll/x',
  '/_standin/v1/tunnels/a/b',
  '/_standin/v1/tunnels/a/responses/x/y',
  '/_standin/v1/tunnels/a/compare/../poll',
  '/_standin/v1/tunnels/a//poll',
  '/x/_standin/v1/tunnels/a/poll',
  '/_standin/v2/tunnels/a/poll',
  '/_standin/v1/tunnels/a/POLL',
  '_standin/v1/tunnels/a',
  '',
])('%j names no endpoint', (path) => {
  expect(parseTunnelPath(path)).toBeUndefined();
});
