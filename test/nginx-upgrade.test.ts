/**
 * WebSockets through a real nginx on both legs: the browser reaches the tunnel port through an
 * nginx WebSocket proxy, and the client reaches the server's control API through an nginx that
 * keeps response buffering on (its default), so only `X-Accel-Buffering: no` keeps the
 * upgraded stream flowing, and request buffering off, as the README ("Use with Vite and webpack dev servers") says.
 */

import { WebSocketServer } from 'ws';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { freePort, proxyTo, startNginx, type RunningNginx } from './helpers/nginx';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { nextMessage, openWebSocket } from './helpers/websocket';

jest.setTimeout(60_000);

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let controlNginx: RunningNginx;
let browserNginx: RunningNginx;
let browserPort: number;

beforeAll(async () => {
  app = await startLocalApp((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server: app.server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data.toString()}`)));
  server = await startServerProcess(['--poll-timeout', '2s']);
  const controlPort = await freePort();
  controlNginx = await startNginx(controlBlock(controlPort, server.mainPort), [controlPort]);
  client = await startClientProcess(String(app.port), `http://127.0.0.1:${controlPort}`);
  // The browser's nginx is configured with the port the tunnel got (asking for a fixed one fails
  // when another process on the machine happens to hold it).
  browserPort = await freePort();
  browserNginx = await startNginx(browserBlock(browserPort, client.port), [browserPort]);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await browserNginx?.stop();
  await controlNginx?.stop();
  await app?.close();
});

test('a WebSocket through nginx on both legs exchanges messages promptly, and still works after idling past two poll timeouts', async () => {
  const ws = await openWebSocket(`ws://127.0.0.1:${browserPort}/socket`);
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

/** The control plane, as the clients reach it: response buffering stays on (nginx's default). */
function controlBlock(controlPort: number, mainPort: number): string {
  return `
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
`;
}

/** The site's route to the tunnel port, as in the README "Port mode". */
function browserBlock(browserPort: number, tunnelPort: number): string {
  return `
  server {
    listen 127.0.0.1:${browserPort};
    location / {
      ${proxyTo(`http://127.0.0.1:${tunnelPort}`)}
    }
  }
`;
}
