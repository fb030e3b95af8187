/**
 * The app's response head and body reach the browser framed by standin, whatever the client
 * reports (server/http/response-framing.ts): no bytes past a declared Content-Length, never
 * Transfer-Encoding and Content-Length together, no 1xx/101 as a final answer, no body on HEAD,
 * 204 or 304. Checked on the pure module, on raw browser sockets against a real server with a
 * hand-driven client, and through nginx with upstream keep-alive, where surplus bytes used to
 * become the next user's response.
 */

import net from 'node:net';
import { BodyLengthGuard, frameResponseHead } from '../server/http/response-framing';
import { HostileClient } from './helpers/hostile-client';
import { freePort, startNginx, type RunningNginx } from './helpers/nginx';
import { startServerProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(30_000);

/** A whole second HTTP response, as an attacker would append it to a short body. */
const SMUGGLED = 'HTTP/1.1 200 OK\r\nSet-Cookie: session=attacker\r\nContent-Length: 7\r\n\r\nsmuggle';

describe('frameResponseHead', () => {
  test('drops Transfer-Encoding and hop-by-hop headers; a Content-Length next to Transfer-Encoding does not count', () => {
    const framed = frameResponseHead('GET', {
      status: 200,
      headers: [
        'Transfer-Encoding',
        'chunked',
        'Content-Length',
        '5',
        'Connection',
        'x-secret',
        'X-Secret',
        '1',
        'Keep-Alive',
        'timeout=5',
        'X-App',
        'kept',
      ],
    });
    expect(framed).toEqual({
      ok: true,
      status: 200,
      statusMessage: undefined,
      headers: ['X-App', 'kept'],
      bodyBytes: null,
      bodiless: false,
    });
  });

  test('folds equal Content-Length repeats and refuses differing or malformed ones', () => {
    expect(frameResponseHead('GET', { status: 200, headers: ['Content-Length', '5', 'content-length', '5, 5'] })).toMatchObject({
      ok: true,
      headers: ['Content-Length', '5'],
      bodyBytes: 5,
    });
    for (const lengths of [['5', '6'], ['-1'], ['5x'], [''], ['1e3'], ['99999999999999999']]) {
      const headers = lengths.flatMap((length) => ['Content-Length', length]);
      expect(frameResponseHead('GET', { status: 200, headers })).toMatchObject({ ok: false });
    }
  });

  test('refuses interim statuses as a final answer, and header names or values Node cannot send', () => {
    for (const status of [100, 101, 103, 199, 1000]) expect(frameResponseHead('GET', { status, headers: [] })).toMatchObject({ ok: false });
    expect(frameResponseHead('GET', { status: 200, headers: ['Bad Name', 'x'] })).toMatchObject({ ok: false });
    expect(frameResponseHead('GET', { status: 200, headers: ['X-Split', 'a\r\nSet-Cookie: evil=1'] })).toMatchObject({ ok: false });
    expect(frameResponseHead('GET', { status: 200, headers: ['X-Wide', '。'] })).toMatchObject({ ok: false });
  });

  test('HEAD, 204 and 304 are bodiless; 204 loses its Content-Length, HEAD and 304 keep theirs', () => {
    expect(frameResponseHead('HEAD', { status: 200, headers: ['Content-Length', '42'] })).toMatchObject({
      ok: true,
      headers: ['Content-Length', '42'],
      bodiless: true,
      bodyBytes: 0,
    });
    expect(frameResponseHead('GET', { status: 304, headers: ['Content-Length', '42'] })).toMatchObject({
      ok: true,
      headers: ['Content-Length', '42'],
      bodiless: true,
    });
    expect(frameResponseHead('GET', { status: 204, headers: ['Content-Length', '42'] })).toMatchObject({
      ok: true,
      headers: [],
      bodiless: true,
    });
  });

  test('keeps a safe custom reason phrase and drops an unsafe one', () => {
    expect(frameResponseHead('GET', { status: 299, statusMessage: 'Whatever', headers: [] })).toMatchObject({ statusMessage: 'Whatever' });
    expect(frameResponseHead('GET', { status: 299, statusMessage: 'Bad\r\nX: y', headers: [] })).toMatchObject({
      ok: true,
      statusMessage: undefined,
    });
  });

  test('BodyLengthGuard passes the declared length and no byte more', () => {
    const guard = new BodyLengthGuard(5);
    expect(guard.take(Buffer.from('hel')).toString()).toBe('hel');
    expect(guard.complete).toBe(false);
    expect(guard.take(Buffer.from('lo, and more')).toString()).toBe('lo');
    expect(guard.overran).toBe(true);
    expect(guard.take(Buffer.from('x')).length).toBe(0);
    expect(new BodyLengthGuard('none').take(Buffer.from('abc')).length).toBe(0);
  });
});

describe('through a real server', () => {
  let server: ServerProcess;
  let client: HostileClient;

  beforeAll(async () => {
    server = await startServerProcess(['--poll-timeout', '1s', '--request-timeout', '5s']);
    client = await HostileClient.register(server.url, 'framing');
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  afterEach(() => {
    expect(server.child.exitCode).toBeNull();
  });

  /** Sends `requests` on one raw keep-alive connection, answers each with `answer`, returns all the browser read. */
  async function rawBrowser(requests: string[], answer: (index: number, id: string) => void, settleMs = 700): Promise<string> {
    const socket = net.connect(client.port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    for (let i = 0; i < requests.length; i++) {
      socket.write(requests[i]);
      const meta = await client.nextRequest();
      answer(i, meta.id);
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, settleMs))]);
      if (socket.destroyed) break;
    }
    socket.destroy();
    return received;
  }

  test('bytes past the declared Content-Length never reach the browser, and its connection is cut', async () => {
    const seen = await rawBrowser(['GET /victim HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n'], (_i, id) => {
      client.respond(id, { status: 200, headers: ['Content-Length', '5'] }, `hello${SMUGGLED}`);
    });
    expect(seen).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(seen).toMatch(/\r\n\r\nhello$/);
    expect(seen).not.toContain('attacker');
    expect(seen.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });

  test('a body shorter than its Content-Length cuts the connection instead of hanging or reusing it', async () => {
    const seen = await rawBrowser(
      ['GET /short HTTP/1.1\r\nHost: x\r\n\r\n'],
      (_i, id) => client.respond(id, { status: 200, headers: ['Content-Length', '50'] }, 'only this'),
      2_000,
    );
    expect(seen).toMatch(/Content-Length: 50\r\n/i);
    expect(seen).toMatch(/only this$/);
  });

  test('Transfer-Encoding and Content-Length never go out together; the body is chunked by standin', async () => {
    const seen = await rawBrowser(['GET /te HTTP/1.1\r\nHost: x\r\n\r\n'], (_i, id) =>
      client.respond(id, { status: 200, headers: ['Transfer-Encoding', 'chunked', 'Content-Length', '3'] }, `abc${SMUGGLED}`),
    );
    const head = seen.split('\r\n\r\n')[0];
    expect(head).toMatch(/transfer-encoding: chunked/i);
    expect(head).not.toMatch(/content-length/i);
    // The whole body arrives as data inside chunks, never as a response of its own.
    expect(seen.match(/^HTTP\/1\.1 /gm)).toHaveLength(1);
  });

  test('100 and 101 as the final answer to a plain request become 502 app_error', async () => {
    for (const status of [100, 101]) {
      const seen = await rawBrowser(['GET /interim HTTP/1.1\r\nHost: x\r\n\r\n'], (_i, id) =>
        client.respond(id, { status, headers: ['Upgrade', 'evil'] }),
      );
      expect(seen).toMatch(/^HTTP\/1\.1 502 /);
      expect(seen).toMatch(/x-standin-error: app_error/i);
    }
  });

  test('HEAD, 204 and 304 answers carry no body even when the client sends one', async () => {
    const cases: [string, number][] = [
      ['HEAD /h', 200],
      ['GET /no-content', 204],
      ['GET /not-modified', 304],
    ];
    const requests = cases.map(([line]) => `${line} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const seen = await rawBrowser(requests, (i, id) =>
      client.respond(id, { status: cases[i][1], headers: ['Content-Length', '7'] }, 'payload'),
    );
    expect(seen).not.toContain('payload');
    expect(seen.match(/^HTTP\/1\.1 /gm)).toHaveLength(3);
    expect(seen).toMatch(/HTTP\/1\.1 204 No Content\r\n(?:(?!content-length)[^\r]*\r\n)*\r\n/i);
  });

  test('a custom reason phrase reaches the browser', async () => {
    const seen = await rawBrowser(['GET /reason HTTP/1.1\r\nHost: x\r\n\r\n'], (_i, id) =>
      client.respond(id, { status: 299, statusMessage: 'Whatever', headers: ['Content-Length', '0'] }),
    );
    expect(seen).toMatch(/^HTTP\/1\.1 299 Whatever\r\n/);
  });

  test('a header value that would split the head is answered 502, and the server lives on', async () => {
    const seen = await rawBrowser(['GET /split HTTP/1.1\r\nHost: x\r\n\r\n'], (_i, id) =>
      client.respond(id, { status: 200, headers: ['X-Split', 'a\r\nSet-Cookie: evil=1'] }),
    );
    expect(seen).toMatch(/^HTTP\/1\.1 502 /);
  });

  describe('behind nginx with upstream keep-alive', () => {
    let nginx: RunningNginx;
    let nginxPort: number;

    beforeAll(async () => {
      nginxPort = await freePort();
      nginx = await startNginx(
        `upstream tunnel { server 127.0.0.1:${client.port}; keepalive 1; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://tunnel; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }`,
        [nginxPort],
      );
    });

    afterAll(async () => {
      await nginx?.stop();
    });

    test("an attacker's surplus bytes, sent once the victim's request is on the pooled connection, do not become the victim's response", async () => {
      const ask = (path: string) => {
        const socket = net.connect(nginxPort, '127.0.0.1');
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('error', () => undefined);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: site\r\nConnection: close\r\n\r\n`);
        const timer = setTimeout(() => socket.destroy(), 8_000);
        const done = new Promise<string>((resolve) => socket.once('close', () => (clearTimeout(timer), resolve(text))));
        return { done, text: () => text };
      };
      const attacker = ask('/attacker');
      const attackerMeta = await client.nextRequest();
      const body = client.respondStreaming(attackerMeta.id, { status: 200, headers: ['Content-Length', '5'] });
      body.write('hello');
      expect(await attacker.done).toMatch(/hello$/);
      // nginx now keeps the connection for the next request; the victim's goes down it.
      const victim = ask('/victim');
      await new Promise((resolve) => setTimeout(resolve, 300));
      body.end(SMUGGLED);
      const victimMeta = await client.nextRequest();
      expect(victimMeta.url).toBe('/victim');
      client.respond(victimMeta.id, { status: 200, headers: ['Content-Length', '6'] }, 'yours!');
      const seen = await victim.done;
      expect(seen).not.toContain('attacker');
      expect(seen).toMatch(/\r\n\r\nyours!$/);
    });
  });
});
