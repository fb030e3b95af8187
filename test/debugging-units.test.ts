/** Pure parts of the debugging features: trace fields, previews, the bounded stores, --inspect parsing. */

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BodyTap, renderPreview } from '../client/inspector/body-preview';
import { parseInspectPort } from '../client/cli/config';
import { RequestStore } from '../client/inspector/request-store';
import type { RequestRecord } from '../client/inspector/request-capture';
import { toLogLine } from '../client/cli/request-log';
import { RecentRequests } from '../server/observability/recent-requests';
import { configureLogPrivacy, loggedPath, traceFields } from '#shared/trace-fields';

test('trace fields: only traceparent, X-Request-Id (as xRequestId), X-Correlation-Id and --log-header names; paths without query', () => {
  const fields = traceFields([
    'Traceparent',
    '00-abc',
    'X-Correlation-Id',
    'c1',
    'X-Request-Id',
    'r1',
    'X-Standin-Request-Id',
    's1',
    'X-Amzn-Trace-Id',
    'a1',
    'X-Session-Id',
    'secret',
    'Accept',
    '*/*',
  ]);
  // Only the named trace headers: an X-Session-Id is a session secret, not a trace id.
  expect(fields).toEqual({ traceparent: '00-abc', correlationId: 'c1', xRequestId: 'r1' });
  configureLogPrivacy({ logQuery: false, logHeaders: ['x-amzn-trace-id'] });
  try {
    expect(traceFields(['X-Amzn-Trace-Id', 'a1', 'X-Session-Id', 'secret'])).toEqual({ xAmznTraceId: 'a1' });
    expect(loggedPath('/login?token=abc')).toBe('/login');
  } finally {
    configureLogPrivacy({ logQuery: false, logHeaders: [] });
  }
  expect(traceFields(['X-Request-Id', 'x'.repeat(500)]).xRequestId).toHaveLength(128);
});

test('a body tap passes every byte on and keeps only the first capBytes', async () => {
  const tap = new BodyTap(10);
  const seen: Buffer[] = [];
  await pipeline(
    Readable.from([Buffer.from('hello '), Buffer.from('world, '), Buffer.from('and more')]),
    tap,
    new Writable({ write: (chunk: Buffer, _e, cb) => (seen.push(chunk), cb()) }),
  );
  expect(Buffer.concat(seen).toString()).toBe('hello world, and more');
  expect(tap.preview.totalBytes).toBe(21);
  expect(tap.preview.captured.toString()).toBe('hello worl');
});

test('previews: JSON pretty-printed, text as is, binary as hex, cut JSON as text', () => {
  expect(renderPreview(Buffer.from('{"a":1}'), 7, 'application/json; charset=utf-8')).toEqual({
    kind: 'json',
    totalBytes: 7,
    truncated: false,
    text: '{\n  "a": 1\n}',
  });
  expect(renderPreview(Buffer.from('{"a":'), 100, 'application/json')).toMatchObject({ kind: 'text', truncated: true, text: '{"a":' });
  expect(renderPreview(Buffer.from('<p>hi</p>'), 9, 'text/html')).toMatchObject({ kind: 'text', text: '<p>hi</p>' });
  expect(renderPreview(Buffer.from([0x89, 0x50, 0x4e, 0x47]), 4000, 'image/png')).toEqual({
    kind: 'binary',
    totalBytes: 4000,
    truncated: true,
    hex: '00000000  89 50 4e 47',
  });
  expect(renderPreview(Buffer.alloc(0), 0, undefined)).toEqual({ kind: 'empty', totalBytes: 0 });
});

test('the request store keeps the newest 500 and lists newest first', () => {
  const store = new RequestStore();
  for (let i = 0; i < 520; i++) store.add(record(`id-${i}`));
  const list = store.list();
  expect(list).toHaveLength(500);
  expect(list[0].id).toBe('id-519');
  expect(list[499].id).toBe('id-20');
  expect(store.get('id-19')).toBeUndefined();
});

test('the server keeps the last 50 requests per tunnel, newest first', () => {
  const recent = new RecentRequests();
  for (let i = 0; i < 57; i++)
    recent.add({ id: `r${i}`, method: 'GET', url: '/?token=secret', status: 200, durationMs: 1, startedAtMs: 0 });
  const list = recent.list();
  expect(list).toHaveLength(50);
  expect(list[0].id).toBe('r56');
  expect(list[49].id).toBe('r7');
  // The list is open to anyone: query strings (which may carry tokens) are not shown.
  expect(list[0]).toMatchObject({ path: '/', startedAt: '1970-01-01T00:00:00.000Z' });
});

test('--inspect takes a port or false', () => {
  expect(parseInspectPort(4040)).toBe(4040);
  expect(parseInspectPort('4100')).toBe(4100);
  expect(parseInspectPort(false)).toBeNull();
  expect(parseInspectPort('false')).toBeNull();
  expect(() => parseInspectPort('abc')).toThrow('--inspect must be a port');
  expect(() => parseInspectPort(70000)).toThrow('--inspect must be a port');
});

test("a log file line has the issue's fields, trace fields never overriding standin's own", () => {
  const line = toLogLine({ ...record('id-1'), trace: { requestId: 'spoofed', correlationId: 'c' }, queuedMs: 1.5, error: 'app_error' });
  expect(line).toMatchObject({
    requestId: 'id-1',
    tunnel: 't',
    method: 'GET',
    path: '/p',
    status: 200,
    bytesIn: 3,
    bytesOut: 4,
    queuedMs: 1.5,
    appMs: 2,
    totalMs: 5,
    correlationId: 'c',
    error: 'app_error',
  });
  expect(line.time).toBe('2026-01-01T00:00:00.000Z');
});

function record(id: string): RequestRecord {
  return {
    requestId: id,
    tunnel: 't',
    method: 'GET',
    path: '/p',
    requestHeaders: [],
    startedAt: Date.parse('2026-01-01T00:00:00Z'),
    status: 200,
    responseHeaders: [],
    bytesIn: 3,
    bytesOut: 4,
    appMs: 2,
    durationMs: 5,
    trace: {},
    requestPreview: Buffer.alloc(0),
    responsePreview: Buffer.alloc(0),
  };
}
