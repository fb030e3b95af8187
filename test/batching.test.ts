/**
 * Batches through the real client: with one poll slot (--concurrency 1) and many browser requests
 * at once, the server hands its queue over in batches and the client answers small complete
 * responses in groups and the others on their own POSTs. Every browser must get its own answer:
 * small, large (streamed, over the group body limit), slow, HEAD, failing and with a body.
 */

import { randomBytes } from 'node:crypto';
import { httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

const KiB = 1024;

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    const marker = url.searchParams.get('m') ?? '';
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const delayMs = url.pathname === '/slow' ? 300 : Math.floor(Math.random() * 20);
      setTimeout(() => {
        if (url.pathname === '/cut') return void req.socket.destroy();
        const body =
          url.pathname === '/big'
            ? Buffer.concat([Buffer.from(marker), Buffer.alloc(200 * KiB, 'b')])
            : Buffer.from(`${marker}:${Buffer.concat(chunks).length}`);
        res.writeHead(200, { 'content-type': 'text/plain', 'x-marker': marker, 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      }, delayMs);
    });
  });
  server = await startServerProcess(['--poll-timeout', '2s']);
  client = await startClientProcess(String(app.port), server.url, ['--concurrency', '1']);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

test('120 requests at once over one poll slot each get their own answer', async () => {
  const kinds = ['small', 'small', 'small', 'big', 'slow', 'head', 'cut', 'upload'] as const;
  const requests = Array.from({ length: 120 }, (_, i) => {
    const kind = kinds[i % kinds.length];
    const marker = `m${i}-${randomBytes(4).toString('hex')}`;
    const path = kind === 'head' || kind === 'upload' ? '/small' : `/${kind}`;
    const body = kind === 'upload' ? randomBytes(3 * KiB) : undefined;
    const method = kind === 'head' ? 'HEAD' : kind === 'upload' ? 'POST' : 'GET';
    return { kind, marker, response: httpRequest(`${client.publicUrl}${path}?m=${marker}`, { method, body, timeoutMs: 20_000 }) };
  });
  for (const { kind, marker, response } of requests) {
    const answer = await response;
    if (kind === 'cut') {
      expect(answer.status).toBe(502);
      expect(['app_error', 'app_unreachable']).toContain(answer.headers['x-standin-error']);
      continue;
    }
    expect(answer.status).toBe(200);
    expect(answer.headers['x-marker']).toBe(marker);
    if (kind === 'head') expect(answer.body.length).toBe(0);
    else if (kind === 'big') expect(answer.body.length).toBe(marker.length + 200 * KiB);
    else expect(answer.text).toBe(`${marker}:${kind === 'upload' ? 3 * KiB : 0}`);
  }
});
