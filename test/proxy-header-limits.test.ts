/**
 * The whole path behind nginx with ingress-nginx's DEFAULT buffer settings on the leg the
 * standin client uses (proxy_buffer_size 4k, large_client_header_buffers 4 8k): the client
 * reaches the server's control API through that nginx, and browsers reach the tunnel (port mode)
 * and the main port (selector mode) through nginx too. Big cookies, many headers, a big
 * Set-Cookie, a burst that makes the server batch, uploads, server-sent events and a WebSocket
 * all pass, because no metadata travels in a header between client and server.
 *
 * Only the browser-facing server blocks raise nginx's limits, and only as far as the site itself
 * needs without standin (a browser's 16 KiB cookie line needs large_client_header_buffers over
 * 8k; an app's 12 KiB Set-Cookie needs proxy_buffer_size over 4k). The control block keeps
 * nginx's defaults.
 */

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { httpRequest } from './helpers/http';
import { sendFiveEvents, startLocalApp, type LocalApp } from './helpers/local-app';
import { freePort, proxyTo, startNginx, type RunningNginx } from './helpers/nginx';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { messageText, nextMessage, openWebSocket } from './helpers/websocket';

jest.setTimeout(120_000);

const KiB = 1024;
/** A site's single-sign-on cookie, far over nginx's 4k proxy buffer and 8k header line. */
const BIG_COOKIE = `sso=${'c'.repeat(16 * KiB - 4)}`;
/** The app sets six cookies of 2 KiB: 12 KiB of Set-Cookie. */
const SET_COOKIES = Array.from({ length: 6 }, (_, i) => `c${i}=${String(i).repeat(2 * KiB - 3)}; Path=/`);

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let nginx: RunningNginx;
let portModePort: number;
let selectorModePort: number;

beforeAll(async () => {
  // A site with big cookies runs its app with a raised head limit too (Node's default is 16 KiB).
  app = await startLocalApp(appHandler, 0, { maxHeaderSize: 128 * KiB });
  const wss = new WebSocketServer({ server: app.server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${messageText(data)}`)));
  server = await startServerProcess(['--poll-timeout', '5s']);
  const controlPort = await freePort();
  portModePort = await freePort();
  selectorModePort = await freePort();
  nginx = await startNginx(serverBlocks(controlPort, server.mainPort, server.portRange.from), [
    controlPort,
    portModePort,
    selectorModePort,
  ]);
  // Few poll slots, so that a burst queues on the server and goes over in batches.
  client = await startClientProcess(String(app.port), `http://127.0.0.1:${controlPort}`, [
    '--name',
    'behind-nginx',
    '--port',
    String(server.portRange.from),
    '--concurrency',
    '2',
  ]);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await nginx?.stop();
  await app?.close();
});

function appHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://app');
  if (url.pathname === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    return sendFiveEvents(res);
  }
  if (url.pathname === '/set-cookies') {
    res.setHeader('set-cookie', SET_COOKIES);
    return void res.end('cookies set');
  }
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  req.on('end', () => {
    const headerBytes = req.rawHeaders.reduce((sum, item) => sum + item.length, 0);
    // A little later, so that a burst overlaps in the app.
    setTimeout(() => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          cookieBytes: (req.headers.cookie ?? '').length,
          headerBytes,
          bodyBytes: bytes,
          sha256: hash.digest('hex'),
          marker: url.searchParams.get('m'),
        }),
      );
    }, 20);
  });
}

describe.each([
  ['port mode', () => ({ url: `http://127.0.0.1:${portModePort}`, select: {} })],
  ['selector mode', () => ({ url: `http://127.0.0.1:${selectorModePort}`, select: { 'x-standin-tunnel': 'behind-nginx' } })],
])('behind nginx with default buffers, %s', (_mode, target) => {
  test('a 16 KiB cookie reaches the app', async () => {
    const { url, select } = target();
    const answer = await httpRequest(`${url}/cookie`, { headers: { ...select, cookie: BIG_COOKIE } });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).cookieBytes).toBe(BIG_COOKIE.length);
  });

  test('32 KiB of request headers reach the app', async () => {
    const { url, select } = target();
    const headers: Record<string, string> = { ...select };
    for (let i = 0; i < 8; i++) headers[`x-big-${i}`] = String(i).repeat(4 * KiB);
    const answer = await httpRequest(`${url}/headers`, { headers });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).headerBytes).toBeGreaterThan(32 * KiB);
  });

  test('12 KiB of Set-Cookie reach the browser', async () => {
    const { url, select } = target();
    const answer = await httpRequest(`${url}/set-cookies`, { headers: select });
    expect(answer.status).toBe(200);
    expect(answer.headers['set-cookie']).toEqual(SET_COOKIES);
  });

  test('a burst of 200 concurrent requests with 1.5 KiB cookies is served in batches, every one answered', async () => {
    const { url, select } = target();
    const cookie = `session=${'s'.repeat(1536)}`;
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        httpRequest(`${url}/burst?m=${i}`, { headers: { ...select, cookie }, timeoutMs: 60_000 }).catch((error: Error) => ({
          status: 0,
          text: error.message,
        })),
      ),
    );
    const failed = answers.map((answer, i) => ({ i, status: answer.status })).filter((answer) => answer.status !== 200);
    expect(failed).toEqual([]);
    expect(answers.map((answer) => JSON.parse(answer.text).marker)).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    // Grouped answers (POST .../responses without an id) only answer batches: the server
    // batched, and the batches' metadata went through nginx's 4k buffers.
    const groupedPosts = fs
      .readFileSync(path.join(nginx.dir, 'access.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('POST /_standin/v1/tunnels/behind-nginx/responses HTTP'));
    expect(groupedPosts.length).toBeGreaterThan(0);
  });

  test('an upload of 8 MiB arrives intact', async () => {
    const { url, select } = target();
    const body = randomBytes(8 * 1024 * KiB);
    const answer = await httpRequest(`${url}/upload`, {
      method: 'POST',
      headers: { ...select, 'content-type': 'application/octet-stream' },
      body,
      timeoutMs: 60_000,
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ bodyBytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  });

  test('server-sent events arrive one by one', async () => {
    const { url, select } = target();
    const firstEventAfterMs = await new Promise<number>((resolve, reject) => {
      const startedAt = Date.now();
      const req = http.get(`${url}/events`, { headers: select }, (res) => {
        res.once('data', () => {
          resolve(Date.now() - startedAt);
          req.destroy();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('no event within 10 s')));
      req.once('error', reject);
    });
    // The stream takes 750 ms in all; buffered anywhere, the first event would come with the last.
    expect(firstEventAfterMs).toBeLessThan(600);
  });

  test('a WebSocket with a big cookie exchanges messages', async () => {
    const { url, select } = target();
    const ws = await openWebSocket(`${url.replace('http:', 'ws:')}/socket`, undefined, { ...select, cookie: BIG_COOKIE });
    ws.send('hello');
    expect(await nextMessage(ws)).toBe('echo:hello');
    ws.close();
  });
});

function serverBlocks(controlPort: number, mainPort: number, tunnelPort: number): string {
  // What the site needs from its own proxy anyway, without standin: room for its cookies and
  // request headers from browsers, and for its app's Set-Cookie.
  const siteLimits = `large_client_header_buffers 4 64k;
    proxy_buffer_size 32k;
    proxy_buffers 4 32k;
    proxy_busy_buffers_size 64k;`;
  return `
  # The control API as standin clients reach it: nginx's (and ingress-nginx's) default buffers.
  server {
    listen 127.0.0.1:${controlPort};
    large_client_header_buffers 4 8k;
    proxy_buffer_size 4k;
    proxy_buffers 8 4k;
    location / {
      ${proxyTo(`http://127.0.0.1:${mainPort}`)}
    }
  }
  # Port mode: the site's route to the tunnel's own port.
  server {
    listen 127.0.0.1:${portModePort};
    ${siteLimits}
    location / {
      ${proxyTo(`http://127.0.0.1:${tunnelPort}`)}
    }
  }
  # Selector mode: the site's route to standin's main port.
  server {
    listen 127.0.0.1:${selectorModePort};
    ${siteLimits}
    location / {
      ${proxyTo(`http://127.0.0.1:${mainPort}`)}
    }
  }
`;
}
