/**
 * One bad request fails alone. An app response head over the head-size limit, a browser request
 * head too big for one metadata frame, and a poll answer mangled by a proxy each cost only
 * their own request.
 *
 * One bad poll answer: A proxy between client and server that mangles one poll
 * answer (answers it with its own 502 page, cuts it inside the metadata frame, or sends
 * something that is not a frame) costs only the request that answer carried: it gets a clear
 * error page (504 timeout, since the server handed it over and nobody answers), the client's
 * slot polls again at once without the reconnect backoff, and the tunnel keeps serving.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

type Mangling = '502 page' | 'cut inside the frame' | 'not a frame';

let app: LocalApp;
let server: ServerProcess;

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    // 70 KiB of response headers: over the 64 KiB head-size limit.
    if (req.url === '/huge-head')
      res.setHeader(
        'x-huge',
        Array.from({ length: 10 }, () => 'h'.repeat(7 * 1024)),
      );
    res.end(`app saw ${req.url}`);
  });
  server = await startServerProcess(['--poll-timeout', '2s', '--request-timeout', '3s']);
});

afterAll(async () => {
  await server?.stop();
  await app?.close();
});

/**
 * A reverse proxy to the server that passes everything through, except the first answer to a
 * client call whose metadata names `victimPath`, which it mangles. Answers are read whole
 * before they are passed on (they are small here).
 */
async function startManglingProxy(
  upstreamPort: number,
  victimPath: string,
  mangling: Mangling,
): Promise<{ url: string; mangled: () => number; close: () => Promise<void> }> {
  let mangled = 0;
  const proxy = http.createServer((req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('error', () => res.destroy());
        answer.once('end', () => {
          const body = Buffer.concat(chunks);
          const carriesVictim = answer.statusCode === 200 && body.includes(victimPath);
          if (carriesVictim && mangled === 0) {
            mangled++;
            return mangle(res, body, mangling);
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(body);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    mangled: () => mangled,
    close: () =>
      new Promise((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

function mangle(res: http.ServerResponse, body: Buffer, mangling: Mangling): void {
  switch (mangling) {
    case '502 page':
      res.writeHead(502, { 'content-type': 'text/html' });
      return void res.end(
        '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n',
      );
    case 'cut inside the frame':
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 20));
      return void setTimeout(() => res.socket?.destroy(), 50);
    case 'not a frame':
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html>an error page with status 200</html>');
  }
}

describe.each<Mangling>(['502 page', 'cut inside the frame', 'not a frame'])('a proxy mangles one poll answer (%s)', (mangling) => {
  let client: ClientProcess;
  let proxy: Awaited<ReturnType<typeof startManglingProxy>>;

  afterEach(async () => {
    await client?.stop('SIGINT');
    await proxy?.close();
  });

  test('only the request it carried fails; the tunnel serves the next ones at once, without reconnecting', async () => {
    proxy = await startManglingProxy(server.mainPort, '/victim', mangling);
    client = await startClientProcess(String(app.port), proxy.url, [
      '--concurrency',
      '2',
      '--name',
      `mangled-${mangling.replace(/\W+/g, '-')}`,
    ]);
    const victim = await httpRequest(`${client.publicUrl}/victim`, { timeoutMs: 10_000 });
    expect(proxy.mangled()).toBe(1);
    expect(victim.status).toBe(504);
    expect(victim.headers['x-standin-error']).toBe('timeout');

    const startedAt = Date.now();
    const after = await Promise.all(
      Array.from({ length: 20 }, (_, i) => httpRequest(`${client.publicUrl}/after-${i}`, { timeoutMs: 10_000 })),
    );
    expect(after.map((answer) => answer.text)).toEqual(Array.from({ length: 20 }, (_, i) => `app saw /after-${i}`));
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(client.lines.some((line) => line.message === 'poll answer lost, polling again')).toBe(true);
    expect(client.lines.some((line) => line.message === 'connection lost' || line.message === 'reconnecting')).toBe(false);
  });
});

test('an app response head over the limit fails only that request, with 502 app_error', async () => {
  const client = await startClientProcess(String(app.port), server.url, ['--name', 'huge-app-head']);
  try {
    const huge = await httpRequest(`${client.publicUrl}/huge-head`);
    expect(huge.status).toBe(502);
    expect(huge.headers['x-standin-error']).toBe('app_error');
    expect((await httpRequest(`${client.publicUrl}/next`)).text).toBe('app saw /next');
    expect(client.lines.some((line) => line.message === 'connection lost')).toBe(false);
  } finally {
    await client.stop('SIGINT');
  }
});

test('a request head whose metadata would not fit one frame gets 431 head_too_large; the next request is served', async () => {
  // Only a --max-header-size raised far past the default lets such a head in at all.
  const bigServer = await startServerProcess(['--max-header-size', String(1024 * 1024)]);
  const client = await startClientProcess(String(app.port), bigServer.url, ['--name', 'big-heads']);
  try {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 40; i++) headers[`x-big-${i}`] = '"'.repeat(8 * 1024);
    const tooBig = await httpRequest(`${client.publicUrl}/too-big`, { headers });
    expect(tooBig.status).toBe(431);
    expect(tooBig.headers['x-standin-error']).toBe('head_too_large');
    expect((await httpRequest(`${client.publicUrl}/next`)).text).toBe('app saw /next');
  } finally {
    await client.stop('SIGINT');
    await bigServer.stop();
  }
});
