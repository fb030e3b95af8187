/**
 * The inspector's pure parts: shell quoting (a property test run by a real sh), the response
 * diff (JSON paths, line diff, compressed bodies) and the request filter.
 */

import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { shellQuote } from '../client/inspector/curl-command';
import { diffBodies, diffHeaders, diffLines } from '../client/inspector/response-diff';
import { matchesFilter, parseRequestFilter } from '../client/inspector/request-filter';
import type { RequestRecord } from '../client/inspector/request-capture';

test('any string without NUL, single-quoted, reaches a real sh as exactly that one argument', () => {
  fc.assert(
    fc.property(
      fc.fullUnicodeString({ maxLength: 40 }).filter((text) => !text.includes('\0')),
      (text) => {
        const printed = execFileSync('sh', ['-c', `printf '%s' ${shellQuote(text)}`], { timeout: 5_000 }).toString('utf8');
        expect(printed).toBe(text);
      },
    ),
    { numRuns: 60 },
  );
  for (const hostile of ["'", "'\\''", '$(id)', '`id`', "a'b'c", '\n; echo pwned', '"$HOME"']) {
    expect(execFileSync('sh', ['-c', `printf '%s' ${shellQuote(hostile)}`]).toString()).toBe(hostile);
  }
});

const response = (body: string | Buffer, headers: string[] = [], status = 200) => ({
  status,
  headers,
  body: Buffer.from(body),
  truncated: false,
});

test('JSON bodies differ by path: changed, missing on either side, inside arrays; own keys only', () => {
  const local = response(JSON.stringify({ a: { b: 1, c: [1, 2] }, only: 'local', constructor: 1 }));
  const cluster = response(JSON.stringify({ a: { b: 2, c: [1] }, 'odd key': true, constructor: 1 }));
  expect(diffBodies(local, cluster)).toEqual({
    kind: 'json',
    more: false,
    changes: [
      { path: '$.a.b', local: 1, cluster: 2 },
      { path: '$.a.c[1]', local: 2 },
      { path: '$.only', local: 'local' },
      { path: '$["odd key"]', cluster: true },
    ],
  });
  expect(diffBodies(response('{"x":1}'), response('{ "x": 1 }'))).toEqual({ kind: 'json', more: false, changes: [] });
});

test('equal bodies are the same even when one side is gzip-compressed', () => {
  const gzipped = { ...response(zlib.gzipSync('same text')), headers: ['Content-Encoding', 'gzip'] };
  expect(diffBodies(response('same text'), gzipped)).toEqual({ kind: 'same' });
  expect(diffBodies(response(Buffer.from([0, 1, 2])), response(Buffer.from([0, 1, 3])))).toEqual({
    kind: 'binary',
    localBytes: 3,
    clusterBytes: 3,
  });
});

test('line diff keeps the common start and end and aligns the middle', () => {
  expect(diffLines(['a', 'b', 'c', 'z'], ['a', 'x', 'c', 'z'])).toEqual([
    { op: 'same', text: 'a' },
    { op: 'local', text: 'b' },
    { op: 'cluster', text: 'x' },
    { op: 'same', text: 'c' },
    { op: 'same', text: 'z' },
  ]);
  const big = Array.from({ length: 3_000 }, (_, i) => `line ${i}`);
  const lines = diffLines(
    big,
    big.map((line) => `${line}!`),
  );
  expect(lines.length).toBe(6_000);
});

test('headers differ by name, several values joined, Date marked as expected to differ', () => {
  expect(
    diffHeaders(['Date', 'a', 'Set-Cookie', 'x=1', 'set-cookie', 'y=2', 'Connection', 'close'], ['date', 'b', 'Set-Cookie', 'x=1, y=2']),
  ).toEqual([{ name: 'date', local: 'a', cluster: 'b', expected: true }]);
});

test('the request filter: method exact, status class or exact or error, path substring, words anywhere', () => {
  const record = {
    requestId: '6f1c2a9e-1d1b-4c53-9a1e-1a2b3c4d5e6f',
    method: 'POST',
    path: '/API/Orders?x=1',
    status: 502,
    error: 'app_unreachable',
    requestHeaders: ['X-Tenant', 'Acme'],
    responseHeaders: [],
    requestPreview: Buffer.from('{"coupon":"SPRING","size":"Größe a.b("}'),
    responsePreview: Buffer.alloc(0),
  } as unknown as RequestRecord;
  const matches = (query: string) => matchesFilter(record, parseRequestFilter(new URLSearchParams(query)));
  expect(
    ['method=post', 'status=5xx', 'status=502', 'status=error', 'path=/api/orders', 'text=acme spring', 'text=6f1c2a9e', ''].every(matches),
  ).toBe(true);
  expect(['method=GET', 'status=2xx', 'status=500', 'path=/cart', 'text=acme summer', 'text=a.c', 'text=grösse'].some(matches)).toBe(false);
});
