/**
 * WebSockets through a real nginx on both legs: the browser reaches the tunnel port through an
 * nginx WebSocket proxy, and the client reaches the server's control API through an nginx that
 * keeps response buffering on (its default), so only `X-Accel-Buffering: no` keeps the
 * upgraded stream flowing, and request buffering off, as the README ("Use with Vite and webpack dev servers") says.
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, StandinProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

const NGINX = '/usr/sbin/nginx';

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let nginx: StandinProcess;
let nginxDir: string;
let controlPort: number;
let browserPort: number;

beforeAll(async () => {
  app = await startLocalApp((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server: app.server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data.toString()}`)));
  server = await startServerProcess(['--poll-timeout', '2s']);
  [controlPort, browserPort] = [await freePort(), await freePort()];
  nginxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-nginx-'));
  fs.writeFileSync(path.join(nginxDir, 'nginx.conf'), nginxConfig(nginxDir, controlPort, server.mainPort, browserPort, server.portRange.from));
  nginx = new StandinProcess(spawn(NGINX, ['-p', nginxDir, '-c', path.join(nginxDir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await waitForPort(controlPort);
  client = await startClientProcess(String(app.port), `http://127.0.0.1:${controlPort}`, ['--port', String(server.portRange.from)]);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await nginx?.stop('SIGQUIT');
  await app?.close();
  if (nginxDir) fs.rmSync(nginxDir, { recursive: true, force: true });
});

test('a WebSocket through nginx on both legs exchanges messages promptly, and still works after idling past two poll timeouts', async () => {
  expect(client.port).toBe(server.portRange.from);
  const ws = new WebSocket(`ws://127.0.0.1:${browserPort}/socket`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  for (const message of ['one', 'two', 'three']) {
    const startedAt = Date.now();
    ws.send(message);
    expect(await nextMessage(ws)).toBe(`echo:${message}`);
    // Buffered somewhere, a small message would wait for more data or the end of the stream.
    expect(Date.now() - startedAt).toBeLessThan(2_000);
  }
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  ws.send('after a pause');
  expect(await nextMessage(ws)).toBe('echo:after a pause');
  ws.close();
});

function nginxConfig(dir: string, controlPort: number, mainPort: number, browserPort: number, tunnelPort: number): string {
  return `
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  # The control plane, as the clients reach it: response buffering stays on (nginx's default).
  server {
    listen 127.0.0.1:${controlPort};
    location / {
      proxy_pass http://127.0.0.1:${mainPort};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      client_body_timeout 3600s;
      proxy_request_buffering off;
      client_max_body_size 0;
    }
  }
  # The site's route to the tunnel port, as in docs/kubernetes.md "Port mode".
  server {
    listen 127.0.0.1:${browserPort};
    location / {
      proxy_pass http://127.0.0.1:${tunnelPort};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within ${timeoutMs} ms: ${nginx.stderr.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function nextMessage(ws: WebSocket, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(data.toString());
    });
  });
}
