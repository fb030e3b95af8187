/** Pure pieces of upgrade support: the `upgrade` flag in RequestMeta, and the raw 101 head. */

import { encodeMeta, parseRequestMeta } from '#shared/protocol/message-codecs';
import type { RequestMeta } from '#shared/protocol/messages';
import { formatResponseHead } from '../server/http/raw-response-head';

const base: RequestMeta = { kind: 'request', id: 'id', method: 'GET', url: '/ws', headers: ['Host', 'x'], hasBody: false };

test('RequestMeta keeps upgrade: true through encode and parse', () => {
  expect(parseRequestMeta(encodeMeta({ ...base, upgrade: true })).upgrade).toBe(true);
});

test('RequestMeta without upgrade, or with a non-boolean one, is an ordinary request', () => {
  expect(parseRequestMeta(encodeMeta(base)).upgrade).toBeUndefined();
  expect(parseRequestMeta(JSON.stringify({ ...base, upgrade: 'yes' })).upgrade).toBeUndefined();
});

test('the 101 head keeps header names, case, order and duplicates as given', () => {
  const head = formatResponseHead(101, [
    'Upgrade',
    'websocket',
    'Connection',
    'Upgrade',
    'Sec-WebSocket-Accept',
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
    'X-Dup',
    'a',
    'X-Dup',
    'b',
  ]);
  expect(head).toBe(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Dup: a\r\nX-Dup: b\r\n\r\n',
  );
});

test('the 101 head refuses a header value that would split the response', () => {
  expect(() => formatResponseHead(101, ['X-Evil', 'a\r\nSet-Cookie: b'])).toThrow(/CR, LF or NUL/);
});

test('the 101 head refuses a header name that is not a token', () => {
  expect(() => formatResponseHead(101, ['Bad Name', 'x'])).toThrow(/not a token/);
});
