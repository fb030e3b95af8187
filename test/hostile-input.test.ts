/**
 * Bad input gets a clear 4xx and harms nothing: malformed control calls (bad JSON, wrong types,
 * bad names, oversized bodies and headers, unknown or already-answered request ids, answers from
 * the wrong session), and malformed or smuggling HTTP on the public tunnel ports, sent over raw
 * sockets. Throughout, a real tunnel next to it keeps working.
 */

import http from 'node:http';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { httpRequest, type TestResponse } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import { encodeFrame } from '#shared/protocol/wire-frame';

jest.setTimeout(30_000);

const TOKEN = 'hostile-input-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

let app: LocalApp;
const appSaw: string[] = [];
let server: ServerProcess;
let client: ClientProcess;

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    appSaw.push(req.url ?? '');
    req.resume();
    req.once('end', () => res.end(`app saw ${req.url}`));
  });
  server = await startServerProcess(['--token', TOKEN, '--poll-timeout', '500ms', '--request-timeout', '5s']);
  client = await startClientProcess(String(app.port), server.url, ['--token', TOKEN, '--name', 'bystander']);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

afterEach(async () => {
  // Whatever a test sent, the server is up and the bystander tunnel still serves.
  const response = await httpRequest(`${client.publicUrl}/still-fine`);
  expect(response.text).toBe('app saw /still-fine');
  expect(server.child.exitCode).toBeNull();
});

function control(
  path: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<TestResponse> {
  return httpRequest(`${server.url}${path}`, {
    ...options,
    headers: { ...AUTH, 'x-standin-protocol': String(PROTOCOL_VERSION), ...options.headers },
  });
}

/** Registers as a current client would (with the protocol version), unless `body` is a string. */
function register(body: unknown): Promise<TestResponse> {
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  return control('/_standin/v1/tunnels', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(isObject ? { protocol: PROTOCOL_VERSION, ...body } : body),
  });
}

/** The JSON of the metadata frame at the start of a poll answer. */
function metaOf(answer: TestResponse): string {
  const newline = answer.body.indexOf(0x0a);
  const length = Number(answer.body.subarray(0, newline).toString());
  return answer.body.subarray(newline + 1, newline + 1 + length).toString();
}

/** Sends raw bytes and returns everything the peer sent until it closed (or `timeoutMs`). */
function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 3_000): Promise<string> {
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

/** The request ids of a poll answer's meta: one request, or a batch. */
function batchIds(metaJson: string): string[] {
  const meta = JSON.parse(metaJson) as { kind: string; id?: string; requests?: { id: string }[] };
  return meta.kind === 'batch' ? meta.requests!.map((request) => request.id) : [meta.id!];
}

function errorOf(response: TestResponse): { error: string; message: string } {
  return JSON.parse(response.text) as { error: string; message: string };
}

describe('control API', () => {
  test('without the token every client endpoint answers 401 and reveals nothing', async () => {
    for (const path of ['/_standin/v1/tunnels', '/_standin/v1/tunnels/bystander/poll', '/_standin/v1/no-such-thing']) {
      const response = await httpRequest(`${server.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer wrong' } });
      expect(response.status).toBe(401);
      expect(errorOf(response).error).toBe('unauthorized');
      expect(response.text).not.toContain(TOKEN);
    }
  });

  test('registration with invalid JSON is refused with 400 saying so', async () => {
    const response = await register('{"name": "x",');
    expect(response.status).toBe(400);
    expect(errorOf(response)).toEqual({ error: 'bad_request', message: 'request body is not valid JSON' });
  });

  test('registration with wrong types is refused with 400 naming the field', async () => {
    expect(errorOf(await register({ name: 42, target: 'x' })).message).toBe('name must be a string');
    expect(errorOf(await register({ name: 'ok-name', target: 'x', port: 'ninety' })).message).toBe(
      'port must be an integer from 1 to 65535',
    );
    expect(errorOf(await register({ name: 'ok-name', target: 'x', ttlMs: -5 })).message).toMatch(/^ttlMs must be an integer/);
    expect(errorOf(await register([1, 2])).message).toBe('registration body must be a JSON object');
    expect((await register({ name: 'ok-name' })).status).toBe(400);
  });

  test('registration with a name that is not a DNS label is refused with 400', async () => {
    for (const name of ['Bad_Name', '-leading', 'trailing-', 'a'.repeat(64), '', 'dots.in.name', '../../etc']) {
      const response = await register({ name, target: 'http://localhost:1' });
      expect(response.status).toBe(400);
      expect(errorOf(response).message).toMatch(/name .*(DNS label|must be)/);
    }
  });

  test('an oversized registration body is refused with 413, declared or chunked', async () => {
    const big = JSON.stringify({ name: 'big', target: 'x'.repeat(20_000) });
    const declared = await register(big);
    expect(declared.status).toBe(413);
    expect(errorOf(declared).error).toBe('payload_too_large');
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${server.url}/_standin/v1/tunnels`,
        { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(1_000));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  test('oversized control headers are refused with 431', async () => {
    const answer = await rawExchange(
      server.mainPort,
      `GET /_standin/v1/tunnels/bystander/poll HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 431/);
  });

  test('a client of another protocol version is refused with 400 naming both versions and what to upgrade', async () => {
    const oldClient = await register(JSON.stringify({ name: 'old-client', target: 'x', version: '0.1.0' }));
    expect(oldClient.status).toBe(400);
    expect(errorOf(oldClient).message).toBe(
      `this standin server speaks protocol ${PROTOCOL_VERSION} and your client (standin 0.1.0) speaks protocol 1: upgrade the client (npm install -g standin@latest, or npx standin@latest)`,
    );
    const newerPoll = await control('/_standin/v1/tunnels/bystander/poll', {
      headers: { 'x-standin-protocol': String(PROTOCOL_VERSION + 1) },
    });
    expect(newerPoll.status).toBe(400);
    expect(errorOf(newerPoll).message).toMatch(/upgrade the standin server/);
    const noHeader = await httpRequest(`${server.url}/_standin/v1/tunnels/bystander/poll`, { headers: AUTH });
    expect(noHeader.status).toBe(400);
    expect(errorOf(noHeader).message).toMatch(/speaks protocol 1: upgrade the client/);
  });

  test('a respond POST whose body does not start with a frame, or declares an oversized one, is refused and its browser gets 502', async () => {
    const f = JSON.parse((await register({ name: 'manual-f', target: 'http://localhost:1' })).text) as { sessionId: string; port: number };
    for (const body of ['<html>not a frame</html>', '99999999\n{', `${300 * 1024}\n{"kind":"response"`]) {
      const browser = httpRequest(`http://127.0.0.1:${f.port}/for-f`);
      let id: string | undefined;
      for (let attempt = 0; attempt < 20 && !id; attempt++) {
        const poll = await control('/_standin/v1/tunnels/manual-f/poll', { headers: { 'x-standin-session': f.sessionId } });
        if (poll.status === 200) id = (JSON.parse(metaOf(poll)) as { id: string }).id;
      }
      const bad = await control(`/_standin/v1/tunnels/manual-f/responses/${id}`, {
        method: 'POST',
        headers: { 'x-standin-session': f.sessionId },
        body,
      });
      expect(bad.status).toBe(400);
      expect(errorOf(bad).error).toBe('bad_request');
      const answer = await browser;
      expect(answer.status).toBe(502);
      expect(answer.headers['x-standin-error']).toBe('app_error');
    }
  });

  test('wrong methods and unknown paths get 405 and 404 with a message', async () => {
    const wrongMethod = await control('/_standin/v1/tunnels', { method: 'PUT' });
    expect(wrongMethod.status).toBe(405);
    expect(errorOf(wrongMethod).message).toMatch(/register with POST/);
    expect((await control('/_standin/v1/elsewhere')).status).toBe(404);
    expect((await control('/_standin/v1/tunnels/Bad_Name/poll')).status).toBe(400);
  });

  test('a poll for an unknown tunnel or with a foreign session id is refused', async () => {
    const unknown = await control('/_standin/v1/tunnels/nobody-here/poll', { headers: { 'x-standin-session': randomUUID() } });
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown).error).toBe('not_found');
    const foreign = await control('/_standin/v1/tunnels/bystander/poll', { headers: { 'x-standin-session': randomUUID() } });
    expect(foreign.status).toBe(409);
    // A release with a guessed session id does not stop someone else's tunnel.
    const release = await control('/_standin/v1/tunnels/bystander', { method: 'DELETE', headers: { 'x-standin-session': randomUUID() } });
    expect(release.status).toBe(404);
  });

  test('answers for unknown, malformed, foreign or already-answered request ids are refused; the right session still answers', async () => {
    const a = JSON.parse((await register({ name: 'manual-a', target: 'http://localhost:1' })).text) as { sessionId: string; port: number };
    const b = JSON.parse((await register({ name: 'manual-b', target: 'http://localhost:1' })).text) as { sessionId: string; port: number };
    const browser = httpRequest(`http://127.0.0.1:${a.port}/for-a`);
    // Poll as A until the browser request arrives (idle polls answer 204 every 500 ms).
    let meta: { id: string; url: string } | undefined;
    for (let attempt = 0; attempt < 20 && !meta; attempt++) {
      const poll = await control('/_standin/v1/tunnels/manual-a/poll', { headers: { 'x-standin-session': a.sessionId } });
      if (poll.status === 200) meta = JSON.parse(metaOf(poll)) as { id: string; url: string };
    }
    expect(meta?.url).toBe('/for-a');
    const id = meta!.id;
    const respond = (tunnel: string, session: string, requestId: string, metaJson: string, body = '') => {
      const framed = Buffer.concat([encodeFrame(metaJson), Buffer.from(body)]);
      return control(`/_standin/v1/tunnels/${tunnel}/responses/${requestId}`, {
        method: 'POST',
        headers: { 'x-standin-session': session, 'content-length': framed.length },
        body: framed,
      });
    };
    const good = JSON.stringify({ kind: 'response', status: 200, headers: ['content-type', 'text/plain'], appMs: 1 });

    const unknown = await respond('manual-a', a.sessionId, randomUUID(), good);
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown).error).toBe('unknown_request');
    expect((await respond('manual-a', a.sessionId, 'not-a-uuid', good)).status).toBe(400);
    // B's session, on B's path or on A's path, cannot answer A's request.
    const viaB = await respond('manual-b', b.sessionId, id, good, 'from b');
    expect(viaB.status).toBe(404);
    const foreignSession = await respond('manual-a', b.sessionId, id, good, 'from b');
    expect(foreignSession.status).toBe(403);
    expect(errorOf(foreignSession).error).toBe('unknown_session');

    const answered = await respond('manual-a', a.sessionId, id, good, 'from a');
    expect([200, 204]).toContain(answered.status);
    expect((await browser).text).toBe('from a');
    const again = await respond('manual-a', a.sessionId, id, good, 'twice');
    expect(again.status).toBe(404);
    expect(errorOf(again).message).toMatch(/already answered or timed out/);
  });

  test('a busy queue is handed over as one batch, and its answers may share one POST; bad groups are refused whole', async () => {
    const d = JSON.parse((await register({ name: 'manual-d', target: 'http://localhost:1' })).text) as { sessionId: string; port: number };
    const e = JSON.parse((await register({ name: 'manual-e', target: 'http://localhost:1' })).text) as { sessionId: string; port: number };
    // Three bodiless requests queue up while nobody polls; one poll then takes all of them.
    const browsers = ['/one', '/two', '/three'].map((path) => httpRequest(`http://127.0.0.1:${d.port}${path}`));
    let batch: { kind: string; requests: { id: string; url: string; hasBody: boolean }[] } | undefined;
    for (let attempt = 0; attempt < 20 && !batch; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const poll = await control('/_standin/v1/tunnels/manual-d/poll', { headers: { 'x-standin-session': d.sessionId } });
      if (poll.status === 200) batch = JSON.parse(metaOf(poll)) as typeof batch;
    }
    expect(batch?.kind).toBe('batch');
    expect(batch!.requests.map((request) => request.url)).toEqual(['/one', '/two', '/three']);
    const [one, two, three] = batch!.requests.map((request) => request.id);
    const group = (session: string, responses: unknown[], body: string, extraHeaders: http.OutgoingHttpHeaders = {}) => {
      const framed = Buffer.concat([encodeFrame(JSON.stringify({ kind: 'responses', responses })), Buffer.from(body)]);
      return control('/_standin/v1/tunnels/manual-d/responses', {
        method: 'POST',
        headers: { 'x-standin-session': session, 'content-length': framed.length, 'x-standin-not-a-poll': '1', ...extraHeaders },
        body: framed,
      });
    };
    const ok = (id: string, bodyBytes: number) => ({
      id,
      kind: 'response',
      status: 200,
      headers: ['content-type', 'text/plain'],
      appMs: 1,
      bodyBytes,
    });

    const foreign = await group(e.sessionId, [ok(one, 3)], 'one');
    expect(foreign.status).toBe(403);
    expect(errorOf(foreign).error).toBe('unknown_session');
    const wrongLength = await group(d.sessionId, [ok(one, 3), ok(two, 3)], 'onetwo!');
    expect(wrongLength.status).toBe(400);
    expect(errorOf(wrongLength).message).toMatch(/bodies back to back: 6 bytes/);
    expect((await group(d.sessionId, [ok(one, 3), ok(one, 3)], 'oneone')).status).toBe(400);
    const badMeta = await group(d.sessionId, [{ id: one, kind: 'response', status: 200, headers: [], appMs: 1, bodyBytes: -1 }], '');
    expect(badMeta.status).toBe(400);
    expect(errorOf(badMeta).message).toMatch(/bodyBytes must be an integer/);

    // None of the refused groups reached a browser; a good one answers all three at once.
    const good = await group(
      d.sessionId,
      [ok(one, 3), ok(two, 3), { id: three, kind: 'failure', code: 'app_unreachable', message: 'down', appMs: 1, bodyBytes: 0 }],
      'onetwo',
    );
    expect(good.status).toBe(204);
    const answers = await Promise.all(browsers);
    expect(answers.map((answer) => [answer.status, answer.text.slice(0, 3)])).toEqual([
      [200, 'one'],
      [200, 'two'],
      [502, answers[2].text.slice(0, 3)],
    ]);
    expect(answers[2].headers['x-standin-error']).toBe('app_unreachable');
    // An id answered already is skipped, not delivered twice.
    expect((await group(d.sessionId, [ok(one, 5)], 'again')).status).toBe(204);

    // A group cut off mid-body answers its browsers at once (not at their 5 s request timeout).
    const startedAt = Date.now();
    const cutBrowsers = ['/four', '/five'].map((path) => httpRequest(`http://127.0.0.1:${d.port}${path}`));
    let ids: string[] = [];
    for (let attempt = 0; attempt < 20 && ids.length < 2; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const poll = await control('/_standin/v1/tunnels/manual-d/poll', { headers: { 'x-standin-session': d.sessionId } });
      if (poll.status === 200) ids = ids.concat(batchIds(metaOf(poll)));
    }
    const frame = encodeFrame(JSON.stringify({ kind: 'responses', responses: [ok(ids[0], 4), ok(ids[1], 4)] }));
    const head = `POST /_standin/v1/tunnels/manual-d/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nx-standin-protocol: ${PROTOCOL_VERSION}\r\nx-standin-session: ${d.sessionId}\r\nContent-Length: ${frame.length + 8}\r\n\r\n`;
    await rawExchange(server.mainPort, Buffer.concat([Buffer.from(head), frame, Buffer.from('four')]), 300);
    const cut = await Promise.all(cutBrowsers);
    expect(cut.map((answer) => [answer.status, answer.headers['x-standin-error']])).toEqual([
      [503, 'tunnel_offline'],
      [503, 'tunnel_offline'],
    ]);
    expect(Date.now() - startedAt).toBeLessThan(4_000);
  });

  test('an answer with malformed meta is refused with 400 and the browser gets 502', async () => {
    const c = JSON.parse((await register({ name: 'manual-c', target: 'http://localhost:1' })).text) as { sessionId: string; port: number };
    const browser = httpRequest(`http://127.0.0.1:${c.port}/for-c`);
    let id: string | undefined;
    for (let attempt = 0; attempt < 20 && !id; attempt++) {
      const poll = await control('/_standin/v1/tunnels/manual-c/poll', { headers: { 'x-standin-session': c.sessionId } });
      if (poll.status === 200) id = (JSON.parse(metaOf(poll)) as { id: string }).id;
    }
    const badFrame = encodeFrame('{"kind":"response","status":"two hundred"}');
    const bad = await control(`/_standin/v1/tunnels/manual-c/responses/${id}`, {
      method: 'POST',
      headers: { 'x-standin-session': c.sessionId, 'content-length': badFrame.length },
      body: badFrame,
    });
    expect(bad.status).toBe(400);
    expect(errorOf(bad).message).toBe('status must be an integer from 100 to 999');
    const answer = await browser;
    expect(answer.status).toBe(502);
    expect(answer.headers['x-standin-error']).toBe('app_error');
  });
});

describe('public tunnel ports', () => {
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

  test('Content-Length together with Transfer-Encoding is refused with 400 and nothing is smuggled', async () => {
    const body = `0\r\n\r\n${smuggled}`;
    const answer = await rawExchange(
      client.port,
      `POST /cl-te HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(appSaw).not.toContain('/smuggled');
    expect(appSaw).not.toContain('/cl-te');
  });

  test('two different Content-Length headers are refused with 400', async () => {
    const answer = await rawExchange(
      client.port,
      `POST /dup-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello${smuggled}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(appSaw).not.toContain('/dup-cl');
    expect(appSaw).not.toContain('/smuggled');
  });

  test('an obfuscated Transfer-Encoding is refused with 400', async () => {
    for (const encoding of ['chunked, identity', ' xchunked', 'identity']) {
      const answer = await rawExchange(
        client.port,
        `POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${encoding}\r\n\r\n0\r\n\r\n${smuggled}`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 400/);
    }
    expect(appSaw).not.toContain('/smuggled');
  });

  test('malformed requests are refused with 400', async () => {
    for (const bytes of [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n',
      'GET / HTTP/1.1\r\nHo st: x\r\n\r\n',
      'GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n',
    ]) {
      expect(await rawExchange(client.port, bytes)).toMatch(/^HTTP\/1\.1 400/);
    }
  });

  test('a request head over the header size limit gets 431', async () => {
    const answer = await rawExchange(client.port, `GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(65 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431/);
    expect(appSaw).not.toContain('/big');
  });
});
