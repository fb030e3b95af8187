/** Pure logic, tested directly: protocol parsing, port assignment, header rules, config. */

import { parseTarget, deriveTunnelName } from '../client/cli/config';
import { rewriteLocation } from '../client/forwarding/response-headers';
import { parseDurationMs, formatDuration } from '#shared/duration';
import { ProtocolError } from '#shared/errors';
import { getHeader, setHeader, withoutHopByHop } from '#shared/http-headers';
import { encodeMeta, parseRegisterRequest, parseRequestMeta, parseResponseMeta } from '#shared/protocol/message-codecs';
import { TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import { parsePortRange } from '../server/config';
import { continueTrace } from '../server/http/forward-headers';
import { InMemoryPortPool } from '../server/core/port-pool';
import { noFreePortMessage } from '../server/client-api/no-free-port';

describe('parseRegisterRequest', () => {
  test('accepts a valid registration', () => {
    expect(
      parseRegisterRequest({ name: 'ada-laptop-3000', target: 'http://localhost:3000', port: 9001, protocol: PROTOCOL_VERSION }),
    ).toEqual({ name: 'ada-laptop-3000', target: 'http://localhost:3000', port: 9001, protocol: PROTOCOL_VERSION });
  });
  test('refuses a client of another protocol version, naming both and what to upgrade', () => {
    expect(() => parseRegisterRequest({ name: 'ok', target: 'x', version: '0.3.0' })).toThrow(
      `this standin server speaks protocol ${PROTOCOL_VERSION} and your client (standin 0.3.0) speaks protocol 1: upgrade the client`,
    );
    expect(() => parseRegisterRequest({ name: 'ok', target: 'x', protocol: PROTOCOL_VERSION + 1 })).toThrow(
      `speaks protocol ${PROTOCOL_VERSION + 1}: ask the server's operators to upgrade the standin server`,
    );
  });
  test.each([
    [null, 'must be a JSON object'],
    [[], 'must be a JSON object'],
    [{ target: 'x' }, 'name must be a string'],
    [{ name: 'Bad_Name', target: 'x' }, 'is not a DNS label'],
    [{ name: '-dash', target: 'x' }, 'is not a DNS label'],
    [{ name: 'a'.repeat(64), target: 'x' }, 'is not a DNS label'],
    [{ name: 'ok', target: 3000 }, 'target must be a string'],
    [{ name: 'ok', target: 'x', port: 70000 }, 'port must be an integer from 1 to 65535'],
    [{ name: 'ok', target: 'x', port: '9000' }, 'port must be an integer'],
  ])('rejects %j saying what is wrong', (body, message) => {
    expect(() => parseRegisterRequest(body)).toThrow(ProtocolError);
    expect(() => parseRegisterRequest(body)).toThrow(message);
  });
});

describe('metadata records', () => {
  test('a request meta survives encoding, including latin-1 and DEL characters', () => {
    const meta = { kind: 'request' as const, id: 'x', method: 'GET', url: '/ä?q=\x7f', headers: ['X-Name', 'caf\xe9'], hasBody: false };
    expect(parseRequestMeta(encodeMeta(meta))).toEqual(meta);
  });
  test('response meta: a response, a failure, and bad input', () => {
    expect(parseResponseMeta('{"kind":"response","status":201,"headers":["A","b"],"appMs":3}')).toEqual({
      kind: 'response',
      status: 201,
      headers: ['A', 'b'],
      appMs: 3,
    });
    expect(parseResponseMeta('{"kind":"failure","code":"app_unreachable","message":"down","appMs":1}')).toMatchObject({
      kind: 'failure',
      code: 'app_unreachable',
    });
    expect(() => parseResponseMeta('{nope')).toThrow('not valid JSON');
    expect(() => parseResponseMeta('{"kind":"response","status":42,"headers":[]}')).toThrow('status must be an integer from 100 to 999');
    expect(() => parseResponseMeta('{"kind":"response","status":200,"headers":["odd"]}')).toThrow('flat array');
    expect(() => parseResponseMeta('{"kind":"other"}')).toThrow('meta kind must be');
  });
});

describe('InMemoryPortPool', () => {
  const nobodyLive = () => false;
  test('gives the preferred port when free, else the first free one', () => {
    const pool = new InMemoryPortPool({ from: 9000, to: 9002 });
    expect(pool.reserve('a', 9001, nobodyLive)).toBe(9001);
    expect(pool.reserve('b', undefined, nobodyLive)).toBe(9000);
    expect(pool.reserve('c', 9001, (name) => name === 'a')).toBe(9002);
  });
  test('a name gets its own reservation back', () => {
    const pool = new InMemoryPortPool({ from: 9000, to: 9009 });
    expect(pool.reserve('a', undefined, nobodyLive)).toBe(9000);
    expect(pool.reserve('b', undefined, nobodyLive)).toBe(9001);
    expect(pool.reserve('a', undefined, nobodyLive)).toBe(9000);
  });
  test('when the range is full, the longest-idle offline reservation is reused; none when all are live', () => {
    const pool = new InMemoryPortPool({ from: 9000, to: 9001 });
    pool.reserve('a', undefined, nobodyLive);
    pool.reserve('b', undefined, nobodyLive);
    pool.markIdle('a', 1_000);
    pool.markIdle('b', 2_000);
    expect(pool.reserve('c', undefined, nobodyLive)).toBe(9000);
    expect(pool.nameForPort(9000)).toBe('c');
    expect(pool.portForName('a')).toBeUndefined();
    expect(pool.reserve('d', undefined, () => true)).toBeNull();
  });
  test('a retired port is never given out', () => {
    const pool = new InMemoryPortPool({ from: 9000, to: 9001 });
    pool.retire(9000);
    expect(pool.reserve('a', 9000, nobodyLive)).toBe(9001);
    expect(pool.reserve('b', undefined, () => true)).toBeNull();
    expect(pool.retiredPorts()).toEqual([9000]);
  });
});

describe('noFreePortMessage', () => {
  test('says live tunnels hold the range only when no port was retired', () => {
    expect(noFreePortMessage('9000-9001', 2, [])).toBe('every port in 9000-9001 is held by a live tunnel; stop one or widen --ports');
  });
  test('names the ports another process holds, beside the live tunnels', () => {
    const message = noFreePortMessage('9000-9002', 3, [9002]);
    expect(message).toContain('held by a live tunnel or in use by another process (9002)');
    expect(message).toContain('free those ports');
  });
  test('does not mention live tunnels when other processes hold the whole range', () => {
    const message = noFreePortMessage('9000-9001', 2, [9000, 9001]);
    expect(message).toBe('every port in 9000-9001 is in use by another process (9000, 9001); free them or choose another --ports');
  });
  test('lists at most ten ports of a wide range', () => {
    const retired = Array.from({ length: 500 }, (_, i) => 10_000 + i);
    const message = noFreePortMessage('10000-10999', 1000, retired);
    expect(message).toContain('10009, … (500 in all)');
    expect(message).not.toContain('10010');
  });
});

describe('header rules', () => {
  test('hop-by-hop headers and those named in Connection are removed, case kept', () => {
    const headers = [
      'Host',
      'x',
      'Connection',
      'close, X-Hop',
      'X-Hop',
      '1',
      'Transfer-Encoding',
      'chunked',
      'X-Keep',
      'Yes',
      'Upgrade',
      'h2c',
      'TE',
      'trailers',
    ];
    expect(withoutHopByHop(headers)).toEqual(['Host', 'x', 'X-Keep', 'Yes']);
  });
  test('setHeader replaces every value once; getHeader is case-insensitive', () => {
    const headers = ['a', '1', 'B', '2', 'A', '3'];
    setHeader(headers, 'A', 'new');
    expect(headers).toEqual(['a', 'new', 'B', '2']);
    expect(getHeader(headers, 'b')).toBe('2');
  });
  test('traceparent: continued with the same trace id, started when missing or invalid', () => {
    expect(continueTrace('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toMatch(
      /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
    );
    expect(continueTrace(undefined)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(continueTrace('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).not.toContain('00000000000000000000000000000000');
    expect(continueTrace('garbage')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
  test('Location: the target origin (or another loopback name for it) becomes the public origin', () => {
    const target = new URL('http://localhost:3000');
    expect(rewriteLocation('http://localhost:3000/a?b=1#c', target, 'https://shop.example.com')).toBe('https://shop.example.com/a?b=1#c');
    expect(rewriteLocation('http://127.0.0.1:3000/a', target, 'https://shop.example.com')).toBe('https://shop.example.com/a');
    expect(rewriteLocation('http://localhost:3001/a', target, 'https://shop.example.com')).toBe('http://localhost:3001/a');
    expect(rewriteLocation('/relative', target, 'https://shop.example.com')).toBe('/relative');
  });
});

describe('config parsing', () => {
  test('targets: a port or an http(s) URL', () => {
    expect(parseTarget('3000').origin).toBe('http://localhost:3000');
    expect(parseTarget('https://localhost:5173/').origin).toBe('https://localhost:5173');
    expect(() => parseTarget('ftp://x')).toThrow('must be http:// or https://');
    expect(() => parseTarget('99999')).toThrow('outside 1-65535');
    expect(() => parseTarget('nonsense')).toThrow('neither a port');
  });
  test('default tunnel names are DNS labels from user, host and port', () => {
    expect(deriveTunnelName(new URL('http://localhost:3000'), 'Ada.Lovelace', 'Ada-MacBook.local')).toBe('ada-lovelace-ada-macbook-3000');
    expect(TUNNEL_NAME_PATTERN.test(deriveTunnelName(new URL('http://localhost:3000'), 'x'.repeat(80), 'h'))).toBe(true);
  });
  test('port ranges', () => {
    expect(parsePortRange('9000-9099')).toEqual({ from: 9000, to: 9099 });
    expect(parsePortRange('none')).toBeNull();
    expect(() => parsePortRange('9100-9000')).toThrow('empty or outside');
    expect(() => parsePortRange('abc')).toThrow('is not a range');
  });
  test('durations', () => {
    expect(parseDurationMs('25s')).toBe(25_000);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('12h')).toBe(43_200_000);
    // A bare number is refused: `--max-ttl 12` read as 12 seconds surprised people who meant hours.
    expect(parseDurationMs('30')).toBeUndefined();
    expect(parseDurationMs('soon')).toBeUndefined();
    expect(formatDuration(3 * 3_600_000 + 12 * 60_000)).toBe('3h 12m');
  });
});
