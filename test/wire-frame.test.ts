import { PassThrough, Readable } from 'node:stream';
import { ProtocolError } from '#shared/errors';
import { encodeFrame, frameLength, readFrame } from '#shared/protocol/wire-frame';

const JSON_TEXT = JSON.stringify({ kind: 'request', id: 'x', headers: ['Cookie', 'sso=ä'.repeat(20)] });
const BODY = Buffer.from('the body, with a newline\n and 12345 digits');

/** Reads a frame, then the rest of the stream as the body, listening for 'end' only after the frame. */
async function readFrameThenBody(stream: Readable): Promise<{ json: string; body: Buffer }> {
  const json = await readFrame(stream);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  return { json, body: Buffer.concat(chunks) };
}

/** A stream that delivers `pieces` as separate chunks, one per tick, then ends. */
function streamOf(pieces: Buffer[]): PassThrough {
  const stream = new PassThrough();
  void (async () => {
    for (const piece of pieces) {
      stream.write(piece);
      await new Promise((resolve) => setImmediate(resolve));
    }
    stream.end();
  })();
  return stream;
}

describe('wire frame', () => {
  const message = Buffer.concat([encodeFrame(JSON_TEXT), BODY]);

  test('frameLength is the length of the encoded frame, in bytes', () => {
    expect(frameLength(JSON_TEXT)).toBe(encodeFrame(JSON_TEXT).length);
    expect(encodeFrame('{}').toString()).toBe('2\n{}');
  });

  test('reads the frame and leaves the body intact, split in two at every byte', async () => {
    for (let split = 0; split <= message.length; split++) {
      const { json, body } = await readFrameThenBody(streamOf([message.subarray(0, split), message.subarray(split)]));
      expect(json).toBe(JSON_TEXT);
      expect(body.equals(BODY)).toBe(true);
    }
  });

  test('reads the frame when every byte arrives alone', async () => {
    const pieces = [...message].map((byte) => Buffer.from([byte]));
    const { json, body } = await readFrameThenBody(streamOf(pieces));
    expect(json).toBe(JSON_TEXT);
    expect(body.equals(BODY)).toBe(true);
  });

  test("reads a record far over the stream's high-water mark, arriving in 1 KiB chunks", async () => {
    const big = JSON.stringify({ kind: 'response', headers: ['Set-Cookie', 'x'.repeat(200 * 1024)] });
    const whole = Buffer.concat([encodeFrame(big), BODY]);
    const pieces = Array.from({ length: Math.ceil(whole.length / 1024) }, (_, i) => whole.subarray(i * 1024, (i + 1) * 1024));
    const { json, body } = await readFrameThenBody(streamOf(pieces));
    expect(json).toBe(big);
    expect(body.equals(BODY)).toBe(true);
  });

  test('with no body, the end still reaches a listener added after the frame was read', async () => {
    for (const pieces of [[encodeFrame(JSON_TEXT)], [encodeFrame(JSON_TEXT).subarray(0, 3), encodeFrame(JSON_TEXT).subarray(3)]]) {
      const { json, body } = await readFrameThenBody(Readable.from(pieces, { objectMode: false }));
      expect(json).toBe(JSON_TEXT);
      expect(body.length).toBe(0);
    }
  });

  test('refuses a frame over the cap before reading it', async () => {
    const stream = streamOf([Buffer.from('999999\n{')]);
    await expect(readFrame(stream, { maxMetaBytes: 1000 })).rejects.toThrow('declares 999999 bytes, over the limit of 1000');
  });

  test.each([
    ['an nginx error page', '<html><head><title>502 Bad Gateway</title>', 'does not start with a metadata frame'],
    ['a newline without a length', '\n{}', 'no length before its newline'],
    ['too many digits', '12345678\n', 'more than 7 digits'],
    ['an empty record', '0\n', 'frame is empty'],
    ['a message cut inside the prefix', '12', 'ended before its metadata frame was complete'],
    ['a message cut inside the record', '10\n{"kind"', 'ended 7 bytes into a metadata frame of 10'],
  ])('refuses %s with a ProtocolError', async (_what, text, message) => {
    const reading = readFrame(streamOf([Buffer.from(text)]));
    await expect(reading).rejects.toBeInstanceOf(ProtocolError);
    await expect(readFrame(streamOf([Buffer.from(text)]))).rejects.toThrow(message);
  });

  test('passes on the stream error of a reset connection', async () => {
    const stream = new PassThrough();
    const reading = readFrame(stream);
    stream.write('5\n{"a"');
    stream.destroy(new Error('ECONNRESET'));
    await expect(reading).rejects.toThrow('ECONNRESET');
  });

  test('gives up after its timeout when the frame never comes', async () => {
    await expect(readFrame(new PassThrough(), { timeoutMs: 50 })).rejects.toThrow('no complete metadata frame within 50 ms');
  });
});
