/** The optional response meta fields that carry the app's reason phrase and trailers, parsed from untrusted JSON. */

import { forwardableTrailers, parseResponseMeta } from '#shared/protocol/message-codecs';

function parse(extra: Record<string, unknown>) {
  return parseResponseMeta(JSON.stringify({ kind: 'response', status: 299, headers: [], appMs: 1, ...extra }));
}

test('a valid reason phrase is kept; one with controls or of the wrong type is dropped', () => {
  expect(parse({ statusMessage: 'Whatever You Say' })).toMatchObject({ statusMessage: 'Whatever You Say' });
  expect(parse({ statusMessage: 'caf\u00e9\tok' })).toMatchObject({ statusMessage: 'caf\u00e9\tok' });
  for (const statusMessage of ['a\r\nSet-Cookie: x=1', 'nul\u0000', 'non-latin-1 \u3002', 42, 'x'.repeat(201)]) {
    expect(parse({ statusMessage })).not.toHaveProperty('statusMessage');
  }
});

test('trailers keep well-formed fields and drop forbidden or malformed ones', () => {
  expect(
    parse({ trailers: ['X-Checksum', 'abc', 'Content-Length', '5', 'Set-Cookie', 'a=1', 'Bad Name', 'x', 'X-Split', 'a\r\nb'] }),
  ).toMatchObject({ trailers: ['X-Checksum', 'abc'] });
  expect(forwardableTrailers(['Server-Timing', 'db;dur=5', 'transfer-encoding', 'chunked'])).toEqual(['Server-Timing', 'db;dur=5']);
  expect(() => parse({ trailers: 'X: y' })).toThrow('headers must be a flat array');
  expect(parse({})).not.toHaveProperty('trailers');
});
