/**
 * `standin connect` survives whatever the local app or the browser does: each hostile answer
 * fails its own request (or passes through when HTTP allows it) and a marker request right after
 * it is still answered with its own token by the same running client.
 */

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startRawApp, type RawAnswer, type RawApp } from './helpers/raw-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { eventually } from './helpers/http';

jest.setTimeout(30_000);

const TOKEN = 'client-resilience-token';

/** What the raw app answers, by path. */
const ANSWERS: Record<string, RawAnswer> = {
  '/204-with-length': { bytes: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', then: 'keep-alive' },
  '/304-with-length': { bytes: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 5\r\n\r\n', then: 'keep-alive' },
  '/reason': { bytes: 'HTTP/1.1 299 Whatever You Say\r\nContent-Length: 2\r\n\r\nok' },
  '/bad-header-char': { bytes: 'HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok' },
  '/huge-head': { bytes: `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(100_000)}\r\nContent-Length: 2\r\n\r\nok` },
  '/short-body': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort', then: 'end' },
  '/reset-mid-body': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(5000), then: 'reset' },
  '/garbage-status': { bytes: 'HTXP/9 abc\r\n\r\n' },
  '/bad-chunk': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n' },
  '/unsolicited-100': { bytes: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' },
  '/101-no-upgrade': { bytes: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\nraw bytes' },
  '/two-lengths': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\nokokokok' },
  '/length-and-chunked': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  '/http10-no-length': { bytes: 'HTTP/1.0 200 OK\r\n\r\nuntil close', then: 'end' },
  '/nul-in-reason': { bytes: 'HTTP/1.1 200 O\x00K\r\nContent-Length: 2\r\n\r\nok' },
  '/latin1-header': { bytes: 'HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\nok' },
  '/trailers': {
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: abc123\r\n\r\n',
  },
  '/head-with-trailer': { bytes: 'HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n', then: 'keep-alive' },
  '/event-stream': {
    bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n8\r\ndata: 1\n\r\n',
    then: 'hang',
  },
  '/asterisk-answer': { bytes: 'HTTP/1.1 200 OK\r\nAllow: GET, POST, OPTIONS\r\nContent-Length: 0\r\n\r\n' },
};

let app: RawApp;
let server: ServerProcess;
let client: ClientProcess;
let logFile: string;

beforeAll(async () => {
  app = await startRawApp((requestLine, target) =>
    requestLine.startsWith('OPTIONS * ') ? ANSWERS['/asterisk-answer'] : ANSWERS[target.split('?')[0]],
  );
  server = await startServerProcess(['--token', TOKEN, '--poll-timeout', '2s', '--request-timeout', '5s']);
  logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'standin-resilience-')), 'requests.ndjson');
  client = await startClientProcess(String(app.port), server.url, [
    '--token',
    TOKEN,
    '--name',
    'resilient',
    '--no-inspect',
    '--log-file',
    logFile,
  ]);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

afterEach(async () => {
  // Whatever the app or the browser did, the same client is running and serves the next request.
  expect(client.child.exitCode).toBeNull();
  const token = randomUUID();
  const marker = await rawExchange(client.port, `GET /marker/${token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  expect(marker).toMatch(/^HTTP\/1\.1 200 /);
  expect(marker.endsWith(`\r\n\r\n${token}`)).toBe(true);
});

/** Sends raw bytes and returns everything the peer sent until it closed (or `timeoutMs`). */
function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 8_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(bytes);
  });
}

function get(target: string, method = 'GET'): Promise<string> {
  return rawExchange(client.port, `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
}

function statusLine(answer: string): string {
  return answer.slice(0, answer.indexOf('\r\n'));
}

/** The --log-file lines of the request whose path is `target`. */
function logLinesFor(target: string): Record<string, unknown>[] {
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.path === target);
}

test('OPTIONS * reaches the app in asterisk-form and its answer comes back', async () => {
  const answer = await rawExchange(client.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  expect(statusLine(answer)).toBe('HTTP/1.1 200 OK');
  expect(answer).toMatch(/\r\nAllow: GET, POST, OPTIONS\r\n/);
  expect(app.requests.map((request) => request.requestLine)).toContain('OPTIONS * HTTP/1.1');
});

test.each(['/204-with-length', '/304-with-length'])(
  '%s: a bodiless status with a Content-Length passes through as it is',
  async (target) => {
    const answer = await get(target);
    expect(statusLine(answer)).toMatch(target.startsWith('/204') ? /^HTTP\/1\.1 204/ : /^HTTP\/1\.1 304/);
    // Nothing after the head: the announced length describes a body that a 204/304 never has.
    expect(answer.endsWith('\r\n\r\n')).toBe(true);
  },
);

test('a custom reason phrase reaches the browser', async () => {
  expect(statusLine(await get('/reason'))).toBe('HTTP/1.1 299 Whatever You Say');
});

test('response trailers and the Trailer header reach the browser', async () => {
  const answer = await get('/trailers');
  expect(answer).toMatch(/\r\nTrailer: X-Checksum\r\n/i);
  expect(answer).toMatch(/\r\n0\r\nX-Checksum: abc123\r\n\r\n$/i);
});

test('a HEAD answer and an HTTP/1.0 answer whose app announced trailers pass, without them (they cannot be chunked)', async () => {
  expect(statusLine(await get('/head-with-trailer', 'HEAD'))).toBe('HTTP/1.1 200 OK');
  const http10 = await rawExchange(client.port, 'GET /trailers HTTP/1.0\r\nHost: x\r\n\r\n');
  expect(statusLine(http10)).toBe('HTTP/1.1 200 OK');
  expect(http10.endsWith('\r\n\r\nok')).toBe(true);
});

test.each([
  '/bad-header-char',
  '/huge-head',
  '/garbage-status',
  '/unsolicited-100',
  '/101-no-upgrade',
  '/two-lengths',
  '/length-and-chunked',
])('%s: a malformed response head fails that request with 502 app_error', async (target) => {
  const answer = await get(target);
  expect(statusLine(answer)).toBe('HTTP/1.1 502 Bad Gateway');
  expect(answer).toMatch(/\r\nx-standin-error: app_error\r\n/i);
});

test.each(['/short-body', '/reset-mid-body'])('%s: a body that breaks after the head cuts that one response', async (target) => {
  const answer = await get(target);
  // The head may have gone out already; then the browser sees a cut body (as from any proxy), else a 502.
  expect(answer === '' || /^HTTP\/1\.1 (200|502) /.test(answer)).toBe(true);
});

test('a body that breaks before its first byte cuts that response at once, not at the request timeout', async () => {
  const startedAt = Date.now();
  const answer = await get('/bad-chunk');
  // The head may not have reached the browser yet: then the connection just closes (as from nginx).
  expect(answer === '' || /^HTTP\/1\.1 (200|502) /.test(answer)).toBe(true);
  expect(Date.now() - startedAt).toBeLessThan(3_000);
});

test('an HTTP/1.0 response without a length is read until the app closes', async () => {
  const answer = await get('/http10-no-length');
  expect(statusLine(answer)).toBe('HTTP/1.1 200 OK');
  expect(answer).toMatch(/\r\nuntil close\r\n0\r\n\r\n$/);
});

test('a Latin-1 header value passes through unchanged', async () => {
  expect(await get('/latin1-header')).toMatch(/\r\nX-Name: caf\xe9\r\n/);
});

test('a browser that leaves in the middle of an upload aborts the app request at once', async () => {
  const before = app.requests.length;
  const browser = net.connect(client.port, '127.0.0.1');
  browser.on('error', () => undefined);
  browser.write('POST /slow-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nfirst bytes');
  await eventually(() => app.requests.length > before, 5_000, 20);
  const upload = app.requests[before];
  expect(upload.requestLine).toBe('POST /slow-upload HTTP/1.1');
  browser.resetAndDestroy();
  const startedAt = Date.now();
  const aborted = await Promise.race([
    upload.closed.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000)),
  ]);
  expect(aborted).toBe(true);
  expect(Date.now() - startedAt).toBeLessThan(3_000);
});

test('a browser closing an event stream is logged as browser_left, not as an app failure', async () => {
  const browser = net.connect(client.port, '127.0.0.1');
  browser.on('error', () => undefined);
  let received = '';
  browser.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  browser.write('GET /event-stream HTTP/1.1\r\nHost: x\r\n\r\n');
  await eventually(() => received.includes('data: 1'), 5_000, 20);
  browser.destroy();
  await eventually(() => logLinesFor('/event-stream').length > 0, 5_000, 50);
  const [line] = logLinesFor('/event-stream');
  expect(line.outcome).toBe('browser_left');
  expect(line.error).toBeUndefined();
  expect(line.status).toBe(200);
});

test('a reason phrase with a control character is replaced by the usual one', async () => {
  expect(statusLine(await get('/nul-in-reason'))).toBe('HTTP/1.1 200 OK');
});

// Found by the fuzzer: a 60 KB header of `"` passes the main port's head limit, doubles when
// JSON-escaped into the poll answer's meta, and overflowed the client's head limit; the client
// reconnected, then exited on the stale `409 session_replaced` of its old polls.
test('a request whose head outgrows the control limit once escaped does not end the client', async () => {
  const lostBefore = client.lines.filter((line) => line.message === 'connection lost').length;
  await rawExchange(
    server.mainPort,
    `GET /quotes HTTP/1.1\r\nHost: x\r\nCookie: standin-tunnel=resilient\r\nX-Big: ${'"'.repeat(60_000)}\r\nConnection: close\r\n\r\n`,
    3_000,
  );
  expect(client.child.exitCode).toBeNull();
  // That one oversized poll answer is lost; the connection is not.
  expect(client.lines.filter((line) => line.message === 'connection lost').length).toBe(lostBefore);
  await eventually(async () => (await get(`/marker/${randomUUID()}`)).startsWith('HTTP/1.1 200 '), 15_000, 250);
});
