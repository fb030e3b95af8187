/**
 * The optional protocol-2 parts for interim responses and streamed trailers, from untrusted
 * input: the chunked body reader (shared/protocol/body-chunks.ts), the frames' parsers, and the 1xx head
 * the server writes to the browser.
 */

import fc from 'fast-check';
import { BodyChunkReader, encodeBodyChunk, encodeBodyEnd, MAX_BODY_CHUNK_BYTES } from '#shared/protocol/body-chunks';
import { parseRespondFrame, parseResponseGroupMeta, parseTrailersMeta } from '#shared/protocol/message-codecs';
import { serverHasFeature } from '#shared/protocol/version';
import { formatInterimHead } from '../server/http/interim-response';

/** Feeds `bytes` to a reader in pieces cut at `cuts`; returns the body bytes it gave and the reader. */
function readInPieces(bytes: Buffer, cuts: number[]): { body: Buffer; reader: BodyChunkReader } {
  const reader = new BodyChunkReader();
  const body: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    body.push(...reader.take(bytes.subarray(from, Math.max(from, cut))));
    from = Math.max(from, cut);
  }
  return { body: Buffer.concat(body), reader };
}

test('a chunked body and its trailers read back the same however the bytes are cut', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (chunks, cuts) => {
        const trailers = ['X-Checksum', 'abc', 'X-Parts', String(chunks.length)];
        const encoded = Buffer.concat([...chunks.flatMap((chunk) => encodeBodyChunk(Buffer.from(chunk))), encodeBodyEnd(trailers)]);
        const { body, reader } = readInPieces(encoded, cuts);
        expect(body.equals(Buffer.concat(chunks.map((chunk) => Buffer.from(chunk))))).toBe(true);
        expect(reader.complete).toBe(true);
        expect(parseTrailersMeta(reader.trailersJson)).toEqual(trailers);
      },
    ),
    { numRuns: 200 },
  );
});

test('a chunk over the limit is split by the writer and refused by the reader', () => {
  const big = Buffer.alloc(MAX_BODY_CHUNK_BYTES + 10, 1);
  expect(encodeBodyChunk(big).length).toBe(4);
  expect(() => new BodyChunkReader().take(Buffer.from(`${MAX_BODY_CHUNK_BYTES + 1}\n`))).toThrow('over the limit');
});

test.each([
  ['a letter where a length belongs', 'x\n'],
  ['a newline with no length', '\n'],
  ['a length of 8 digits', '12345678\n'],
  ['an empty trailers frame', '2\nok0\n0\n'],
  ['bytes after the trailers frame', `0\n${'{"kind":"trailers","trailers":[]}'.length}\n{"kind":"trailers","trailers":[]}x`],
])('the chunked body reader refuses %s', (_what, bytes) => {
  expect(() => new BodyChunkReader().take(Buffer.from(bytes))).toThrow();
});

test('a body that stops before its trailers frame is not complete', () => {
  const reader = new BodyChunkReader();
  reader.take(Buffer.from('2\nok0\n'));
  expect(reader.complete).toBe(false);
});

test('trailers in the closing frame are checked like any trailers, and it must be a trailers frame', () => {
  expect(
    parseTrailersMeta(JSON.stringify({ kind: 'trailers', trailers: ['X-Ok', '1', 'Content-Length', '5', 'X-Split', 'a\r\nb'] })),
  ).toEqual(['X-Ok', '1']);
  expect(() => parseTrailersMeta(JSON.stringify({ kind: 'response', trailers: [] }))).toThrow('"trailers"');
});

test('an interim frame has a status of 102-199; a response frame may say its trailers follow, a grouped one may not', () => {
  expect(
    parseRespondFrame(JSON.stringify({ kind: 'interim', status: 103, headers: ['Link', '</a.css>'], statusMessage: 'Early Hints' })),
  ).toEqual({ kind: 'interim', status: 103, headers: ['Link', '</a.css>'], statusMessage: 'Early Hints' });
  for (const status of [100, 101, 200, 99, 1.5])
    expect(() => parseRespondFrame(JSON.stringify({ kind: 'interim', status, headers: [] }))).toThrow('status');
  expect(parseRespondFrame(JSON.stringify({ kind: 'response', status: 200, headers: [], appMs: 1, trailersFollow: true }))).toMatchObject({
    trailersFollow: true,
  });
  const group = parseResponseGroupMeta(
    JSON.stringify({
      kind: 'responses',
      responses: [
        {
          id: '6f0c4f44-3c1f-4d0e-9a77-0a0e0c2b1e11',
          kind: 'response',
          status: 200,
          headers: [],
          appMs: 1,
          bodyBytes: 0,
          trailersFollow: true,
        },
      ],
    }),
  );
  expect(group.responses[0]).not.toHaveProperty('trailersFollow');
});

test('the 1xx head written to the browser keeps the app fields, drops framing and hop-by-hop ones, and refuses a split', () => {
  expect(
    formatInterimHead({
      kind: 'interim',
      status: 103,
      headers: ['Link', '</a.css>; rel=preload', 'Connection', 'close', 'Content-Length', '3', 'X-Hint', 'y'],
    }),
  ).toBe('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nX-Hint: y\r\n\r\n');
  expect(formatInterimHead({ kind: 'interim', status: 150, headers: [], statusMessage: 'Custom' })).toBe('HTTP/1.1 150 Custom\r\n\r\n');
  expect(formatInterimHead({ kind: 'interim', status: 103, headers: ['X-Split', 'a\r\nHTTP/1.1 200 OK'] })).toBeUndefined();
  expect(formatInterimHead({ kind: 'interim', status: 103, headers: ['Bad Name', 'x'] })).toBeUndefined();
  expect(formatInterimHead({ kind: 'interim', status: 101, headers: [] })).toBeUndefined();
});

test('a client uses an optional part only when the registration answer lists it', () => {
  expect(serverHasFeature({ features: ['interim-responses'] }, 'interim-responses')).toBe(true);
  expect(serverHasFeature({ features: ['interim-responses'] }, 'streamed-trailers')).toBe(false);
  expect(serverHasFeature({}, 'interim-responses')).toBe(false);
  expect(serverHasFeature({ features: 'interim-responses' }, 'interim-responses')).toBe(false);
});
