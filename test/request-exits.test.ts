/**
 * Exits of a browser request that used to take the server or a tunnel down, with real processes:
 * a response head Node refuses (alone or in a group) answers that one browser 502 and the server
 * keeps serving; slow uploads that time out free their poll slots; and an app that answers
 * before reading a large upload gets its answer to the browser, as it does direct.
 */

import http from 'node:http';
import net from 'node:net';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import { encodeFrame } from '#shared/protocol/wire-frame';
import { httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

const TOKEN = 'request-exits-token';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'x-standin-protocol': String(PROTOCOL_VERSION) };
const REQUEST_TIMEOUT_S = 2;

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    if (req.url === '/early') {
      // Refuses before reading the upload, as an auth check or a size limit does.
      res.writeHead(413, { 'content-type': 'text/plain' });
      res.end('too large, says the app');
      return;
    }
    // Reads the whole body before answering: a stalled upload holds it for ever.
    req.resume();
    req.once('end', () => res.end(`app saw ${req.url}`));
  });
  server = await startServerProcess(['--token', TOKEN, '--poll-timeout', '1s', '--request-timeout', `${REQUEST_TIMEOUT_S}s`]);
  client = await startClientProcess(String(app.port), server.url, ['--token', TOKEN, '--name', 'exits']);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

afterEach(async () => {
  expect(server.child.exitCode).toBeNull();
  const response = await httpRequest(`${client.publicUrl}/still-fine`);
  expect(response.text).toBe('app saw /still-fine');
});

function control(path: string, options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {}) {
  return httpRequest(`${server.url}${path}`, { ...options, headers: { ...AUTH, ...options.headers } });
}

/** Registers a tunnel this test answers by hand, as a client would. */
async function manualTunnel(name: string): Promise<{ session: string; port: number }> {
  const registered = await control('/_standin/v1/tunnels', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ protocol: PROTOCOL_VERSION, name, target: 'http://localhost:1' }),
  });
  const { sessionId, port } = JSON.parse(registered.text) as { sessionId: string; port: number };
  return { session: sessionId, port };
}

/** Polls until `count` request ids arrived (one request, or batches). */
async function pollIds(name: string, session: string, count: number): Promise<string[]> {
  let ids: string[] = [];
  for (let attempt = 0; attempt < 30 && ids.length < count; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const poll = await control(`/_standin/v1/tunnels/${name}/poll`, { headers: { 'x-standin-session': session } });
    if (poll.status !== 200) continue;
    const newline = poll.body.indexOf(0x0a);
    const meta = JSON.parse(
      poll.body.subarray(newline + 1, newline + 1 + Number(poll.body.subarray(0, newline).toString())).toString(),
    ) as { kind: string; id?: string; requests?: { id: string }[] };
    ids = ids.concat(meta.kind === 'batch' ? meta.requests!.map((request) => request.id) : [meta.id!]);
  }
  return ids;
}

/** An upload that declares `declaredBytes`, sends a few, then goes silent; resolves with the status line. */
function stalledUpload(port: number, declaredBytes: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(text.split('\r\n')[0]);
    });
    socket.write(
      `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declaredBytes}\r\n\r\nfirst bytes`,
    );
  });
}

test('a group of responses with a CR/LF or non-Latin-1 header answers those browsers 502 and the server stays up', async () => {
  const tunnel = await manualTunnel('manual-group');
  const browsers = ['/crlf', '/latin', '/fine'].map((path) => httpRequest(`http://127.0.0.1:${tunnel.port}${path}`));
  const ids = await pollIds('manual-group', tunnel.session, 3);
  expect(ids).toHaveLength(3);
  const response = (id: string, headers: string[], bodyBytes: number) => ({
    id,
    kind: 'response',
    status: 200,
    headers,
    appMs: 1,
    bodyBytes,
  });
  // JSON with everything beyond ASCII escaped, as a client may send it.
  const meta = JSON.stringify({
    kind: 'responses',
    responses: [
      response(ids[0], ['x-evil', 'a\r\nSet-Cookie: stolen=1'], 1),
      response(ids[1], ['x-name', '名前'], 1),
      response(ids[2], ['content-type', 'text/plain'], 4),
    ],
  }).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const body = Buffer.concat([encodeFrame(meta), Buffer.from('abfine')]);
  const posted = await control('/_standin/v1/tunnels/manual-group/responses', {
    method: 'POST',
    headers: { 'x-standin-session': tunnel.session, 'x-standin-not-a-poll': '1', 'content-length': body.length },
    body,
  });
  expect(posted.status).toBe(204);
  const answers = await Promise.all(browsers);
  expect(answers.map((answer) => [answer.status, answer.headers['x-standin-error']])).toEqual([
    [502, 'app_error'],
    [502, 'app_error'],
    [200, undefined],
  ]);
  expect(answers[0].headers['set-cookie']).toBeUndefined();
  expect(answers[2].text).toBe('fine');
});

test('a single response with a CR/LF header answers 502 at once, not at the idle timeout', async () => {
  const tunnel = await manualTunnel('manual-single');
  const startedAt = Date.now();
  const browser = httpRequest(`http://127.0.0.1:${tunnel.port}/crlf`);
  const [id] = await pollIds('manual-single', tunnel.session, 1);
  const meta = JSON.stringify({ kind: 'response', status: 200, headers: ['x-evil', 'a\r\nb: c'], appMs: 1 });
  const body = Buffer.concat([encodeFrame(meta), Buffer.from('hi')]);
  await control(`/_standin/v1/tunnels/manual-single/responses/${id}`, {
    method: 'POST',
    headers: { 'x-standin-session': tunnel.session, 'x-standin-not-a-poll': '1', 'content-length': body.length },
    body,
  });
  const answer = await browser;
  expect(answer.status).toBe(502);
  expect(answer.headers['x-standin-error']).toBe('app_error');
  expect(Date.now() - startedAt).toBeLessThan(REQUEST_TIMEOUT_S * 1000);
});

test('8 stalled uploads time out with 504 and free their poll slots: a normal request then succeeds promptly', async () => {
  const uploads = Array.from({ length: 8 }, () => stalledUpload(client.port, 1_000_000, 20_000));
  const statusLines = await Promise.all(uploads);
  expect(statusLines).toEqual(Array(8).fill('HTTP/1.1 504 Gateway Timeout'));
  const startedAt = Date.now();
  const next = await httpRequest(`${client.publicUrl}/after-the-stall`, { timeoutMs: 10_000 });
  expect(next.status).toBe(200);
  expect(next.text).toBe('app saw /after-the-stall');
  expect(Date.now() - startedAt).toBeLessThan(REQUEST_TIMEOUT_S * 1000);
});

test('an app that answers 413 before reading a large upload: the browser gets the answer, as it does direct', async () => {
  const upload = Buffer.alloc(5 * 1024 * 1024, 'x');
  const direct = await httpRequest(`http://127.0.0.1:${app.port}/early`, { method: 'POST', body: upload }).catch((error: Error) => error);
  const tunnelled = await httpRequest(`${client.publicUrl}/early`, { method: 'POST', body: upload }).catch((error: Error) => error);
  expect(direct).not.toBeInstanceOf(Error);
  expect(tunnelled).not.toBeInstanceOf(Error);
  if (direct instanceof Error || tunnelled instanceof Error) return;
  expect([direct.status, direct.text]).toEqual([413, 'too large, says the app']);
  expect([tunnelled.status, tunnelled.text]).toEqual([413, 'too large, says the app']);
});
