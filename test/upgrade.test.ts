/**
 * Upgrade requests (WebSocket and a custom protocol) end to end: a real local app, the real
 * `standin server` and `standin connect` processes, and raw sockets or `ws` clients as browsers.
 * The server polls with a 2 s timeout, so every long-lived connection outlives many polls.
 */

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { eventually, httpRequest } from './helpers/http';
import { inspectPortBase, waitForNdjsonLine } from './helpers/inspector';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { headerValue, rawUpgrade, readToEnd } from './helpers/raw-upgrade';
import { closed, messageText, nextMessage, openWebSocket } from './helpers/websocket';

jest.setTimeout(90_000);

const MiB = 1024 * 1024;

/** What the app saw, for assertions. */
interface AppLog {
  upgradeHeaders: http.IncomingHttpHeaders[];
  wsCloses: { code: number; reason: string }[];
  speakFirstReceived: string[];
}

let app: LocalApp;
let appLog: AppLog;
let server: ServerProcess;
let client: ClientProcess;
let logFile: string;
let inspectorUrl: string;

beforeAll(async () => {
  ({ app, log: appLog } = await startUpgradeApp());
  server = await startServerProcess(['--poll-timeout', '2s']);
  logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'standin-log-')), 'requests.ndjson');
  const inspectPort = await inspectPortBase();
  inspectorUrl = `http://127.0.0.1:${inspectPort}`;
  client = await startClientProcess(String(app.port), server.url, [
    '--concurrency',
    '2',
    '--log-file',
    logFile,
    '--inspect',
    String(inspectPort),
  ]);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

describe('a custom upgrade protocol', () => {
  test('echoes 1 MiB each way intact, with the 101 headers untouched and half-close passed on', async () => {
    const answer = await rawUpgrade(client.port, '/echo', 'x-echo/1');
    expect(answer.status).toBe(101);
    expect(headerValue(answer.headerLines, 'Upgrade')).toBe('x-echo/1');
    expect(headerValue(answer.headerLines, 'X-Echo-Greeting')).toBe('Hello, tunnel');
    expect(headerValue(answer.headerLines, 'X-Standin-Request-Id')).toMatch(/^[0-9a-f-]{36}$/);
    const sent = randomBytes(MiB);
    const echoed = readToEnd(answer.socket, answer.rest);
    answer.socket.end(sent); // The browser's half-close: the app ends its side after echoing.
    expect(sha256(await echoed)).toBe(sha256(sent));
    const seen = appLog.upgradeHeaders.at(-1)!;
    expect(seen.upgrade).toBe('x-echo/1');
    expect(seen.connection).toBe('Upgrade');
    expect(seen.host).toBe(`localhost:${app.port}`);
    expect(seen['x-standin-request-id']).toBe(headerValue(answer.headerLines, 'X-Standin-Request-Id'));
  });

  test('an app that half-closes first still receives what the browser sends afterwards', async () => {
    const answer = await rawUpgrade(client.port, '/speak-first', 'x-echo/1');
    expect(answer.status).toBe(101);
    const fromApp = await readToEnd(answer.socket, answer.rest);
    expect(fromApp.length).toBe(256 * 1024);
    const late = randomBytes(300 * 1024);
    answer.socket.end(late);
    await eventually(() => appLog.speakFirstReceived.includes(sha256(late)), 15_000);
  });

  test('an app that refuses the upgrade answers the browser with its own status and body', async () => {
    const answer = await rawUpgrade(client.port, '/refuse', 'x-echo/1');
    expect(answer.status).toBe(403);
    expect(headerValue(answer.headerLines, 'X-Standin-Request-Id')).toMatch(/^[0-9a-f-]{36}$/);
    const body = await readToEnd(answer.socket, answer.rest);
    expect(body.toString()).toBe('not allowed.');
  });

  test('an upgrade on the main port that selects no tunnel gets 404 no_tunnel', async () => {
    const answer = await rawUpgrade(server.mainPort, '/echo', 'x-echo/1');
    expect(answer.status).toBe(404);
    expect(headerValue(answer.headerLines, 'X-Standin-Error')).toBe('no_tunnel');
    answer.socket.destroy();
  });
});

describe('WebSocket', () => {
  test('messages go both ways, with the subprotocol and permessage-deflate negotiated end to end', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${client.port}/ws`, ['chat']);
    expect(ws.protocol).toBe('chat');
    expect(ws.extensions).toContain('permessage-deflate');
    const big = randomBytes(200 * 1024).toString('base64');
    for (const message of ['hello', 'second', big]) {
      ws.send(message);
      expect(await nextMessage(ws)).toBe(`echo:${message}`);
    }
    ws.close(1000, 'done');
    await closed(ws);
  });

  test('an idle connection survives 30 s (15 poll timeouts) and then still works', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${client.port}/ws`);
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    ws.send('still there?');
    expect(await nextMessage(ws)).toBe('echo:still there?');
    // Ordinary requests kept flowing on the poll slots meanwhile.
    expect((await httpRequest(`${client.publicUrl}/plain`)).text).toBe('plain');
    ws.close();
    await closed(ws);
  });

  test('a close from the browser reaches the app with its code and reason', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${client.port}/ws`);
    const before = appLog.wsCloses.length;
    ws.close(4000, 'browser leaves');
    await closed(ws);
    await eventually(() => appLog.wsCloses.length > before, 5_000);
    expect(appLog.wsCloses.at(-1)).toEqual({ code: 4000, reason: 'browser leaves' });
  });

  test('a close from the app reaches the browser with its code and reason', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${client.port}/ws`);
    ws.send('close-me');
    expect(await closed(ws)).toEqual({ code: 4001, reason: 'app done' });
  });

  test('an app that cuts the connection closes the browser side promptly', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${client.port}/ws`);
    const startedAt = Date.now();
    ws.send('cut-me');
    expect((await closed(ws)).code).toBe(1006);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });

  test('a browser that cuts the connection closes the app side promptly', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${client.port}/ws`);
    const before = appLog.wsCloses.length;
    ws.terminate();
    await eventually(() => appLog.wsCloses.length > before, 5_000);
    expect(appLog.wsCloses.at(-1)!.code).toBe(1006);
  });

  test('an app that refuses the WebSocket (426) answers the browser with 426', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${client.port}/not-a-socket`);
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once('open', () => reject(new Error('the upgrade was accepted')));
      ws.once('error', () => undefined);
    });
    expect(status).toBe(426);
  });

  test('accepted upgrades are counted on the tunnel', async () => {
    const response = await httpRequest(`${server.url}/_standin/api/tunnels/${client.tunnel}`);
    expect(JSON.parse(response.text).counters.upgrades).toBeGreaterThanOrEqual(7);
  });

  test('an open WebSocket shows in the status API and metrics; once closed, in the request log and inspector', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${client.port}/ws`);
    const requestId = await new Promise<string>((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(String(res.headers['x-standin-request-id'])));
      ws.once('error', reject);
    });
    await new Promise((resolve) => (ws.readyState === WebSocket.OPEN ? resolve(undefined) : ws.once('open', resolve)));
    const status = JSON.parse((await httpRequest(`${server.url}/_standin/api/tunnels/${client.tunnel}`)).text);
    expect(status.counters.openUpgrades).toBe(1);
    const metrics = (await httpRequest(`${server.url}/_standin/metrics`)).text;
    expect(metrics).toMatch(/^standin_upgraded_connections 1$/m);
    expect(Number(/^standin_upgrades_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);

    ws.send('counted');
    expect(await nextMessage(ws)).toBe('echo:counted');
    ws.close(1000, 'done');
    await closed(ws);
    const line = await waitForNdjsonLine(logFile, (entry) => entry.requestId === requestId);
    expect(line).toMatchObject({ status: 101, method: 'GET', path: '/ws' });
    expect(line.bytesIn).toBeGreaterThan(0);
    expect(line.bytesOut).toBeGreaterThan(0);
    const detail = await httpRequest(`${inspectorUrl}/api/requests/${requestId}`);
    expect(JSON.parse(detail.text).status).toBe(101);
    const replay = await httpRequest(`${inspectorUrl}/api/requests/${requestId}/replay`, { method: 'POST' });
    expect(replay.status).toBe(409);
    await eventually(
      async () => JSON.parse((await httpRequest(`${server.url}/_standin/api/tunnels/${client.tunnel}`)).text).counters.openUpgrades === 0,
      5_000,
    );
  });
});

describe('limits and endings (own server with --max-upgrades 3, client with --concurrency 1)', () => {
  let limitedServer: ServerProcess;
  let limitedClient: ClientProcess;

  beforeAll(async () => {
    limitedServer = await startServerProcess(['--poll-timeout', '2s', '--max-upgrades', '3']);
    limitedClient = await startClientProcess(String(app.port), limitedServer.url, ['--concurrency', '1']);
  });

  afterAll(async () => {
    await limitedClient?.stop('SIGINT');
    await limitedServer?.stop();
  });

  test('open WebSockets do not use up poll slots, and past --max-upgrades the browser gets 503 upgrade_limit', async () => {
    const sockets = await Promise.all([1, 2, 3].map(() => openWebSocket(`ws://127.0.0.1:${limitedClient.port}/ws`)));
    for (const [index, ws] of sockets.entries()) {
      ws.send(`n${index}`);
      expect(await nextMessage(ws)).toBe(`echo:n${index}`);
    }
    expect((await httpRequest(`${limitedClient.publicUrl}/plain`)).text).toBe('plain');
    const refused = await rawUpgrade(limitedClient.port, '/ws', 'websocket', [
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ]);
    expect(refused.status).toBe(503);
    expect(headerValue(refused.headerLines, 'X-Standin-Error')).toBe('upgrade_limit');
    refused.socket.destroy();
    // Stopping the client (Ctrl-C) closes every upgraded connection at the browser.
    const startedAt = Date.now();
    const allClosed = Promise.all(sockets.map((ws) => closed(ws)));
    await limitedClient.stop('SIGINT');
    await allClosed;
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  });

  test('a client that dies (SIGKILL) has its upgraded connections closed at the browser promptly', async () => {
    // The same laptop (home, and so the name's claim key) starts the client again.
    limitedClient = await startClientProcess(String(app.port), limitedServer.url, ['--concurrency', '1'], { home: limitedClient.home });
    const ws = await openWebSocket(`ws://127.0.0.1:${limitedClient.port}/ws`);
    const startedAt = Date.now();
    const wsClosed = closed(ws);
    await limitedClient.stop('SIGKILL');
    await wsClosed;
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });

  test('server shutdown closes upgraded connections and does not wait for them', async () => {
    // The same laptop (home, and so the name's claim key) starts the client again.
    limitedClient = await startClientProcess(String(app.port), limitedServer.url, ['--concurrency', '1'], { home: limitedClient.home });
    const ws = await openWebSocket(`ws://127.0.0.1:${limitedClient.port}/ws`);
    const startedAt = Date.now();
    const wsClosed = closed(ws);
    await limitedServer.stop('SIGTERM');
    await wsClosed;
    expect(Date.now() - startedAt).toBeLessThan(8_000);
  });
});

describe('upgrades on the main port (own server with --fallback)', () => {
  let fallbackApp: LocalApp;
  let routedServer: ServerProcess;
  let routedClient: ClientProcess;

  beforeAll(async () => {
    fallbackApp = await startLocalApp((_req, res) => res.end('fallback'));
    const wss = new WebSocketServer({ server: fallbackApp.server, path: '/ws' });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`fallback:${messageText(data)}`)));
    routedServer = await startServerProcess(['--poll-timeout', '2s', '--request-timeout', '3s', '--fallback', fallbackApp.url]);
    routedClient = await startClientProcess(String(app.port), routedServer.url);
  });

  afterAll(async () => {
    await routedClient?.stop('SIGINT');
    await routedServer?.stop();
    await fallbackApp?.close();
  });

  async function roundTrip(headers: Record<string, string>): Promise<string> {
    const ws = await openWebSocket(`ws://127.0.0.1:${routedServer.mainPort}/ws`, undefined, headers);
    ws.send('hi');
    const answer = await nextMessage(ws);
    ws.close();
    await closed(ws);
    return answer;
  }

  test('a WebSocket that selects a tunnel by header reaches the laptop', async () => {
    expect(await roundTrip({ 'X-Standin-Tunnel': routedClient.tunnel })).toBe('echo:hi');
  });

  test('a WebSocket that selects a tunnel by cookie reaches the laptop', async () => {
    expect(await roundTrip({ Cookie: `standin-tunnel=${routedClient.tunnel}` })).toBe('echo:hi');
  });

  test('a WebSocket that selects no tunnel reaches the --fallback app', async () => {
    expect(await roundTrip({})).toBe('fallback:hi');
  });

  test('a WebSocket that selects an unknown tunnel reaches the --fallback app', async () => {
    expect(await roundTrip({ 'X-Standin-Tunnel': 'nobody-here' })).toBe('fallback:hi');
  });

  test('a fallback that refuses the upgrade answers the browser with its status', async () => {
    const answer = await rawUpgrade(routedServer.mainPort, '/not-ws', 'websocket', [
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ]);
    expect(answer.status).toBe(400);
    expect(headerValue(answer.headerLines, 'X-Standin-Request-Id')).toMatch(/^[0-9a-f-]{36}$/);
    answer.socket.destroy();
  });

  test('an app that never answers the upgrade gets the browser 504 timeout after --request-timeout', async () => {
    const startedAt = Date.now();
    const answer = await rawUpgrade(routedClient.port, '/hang', 'x-echo/1');
    expect(answer.status).toBe(504);
    expect(headerValue(answer.headerLines, 'X-Standin-Error')).toBe('timeout');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(2_500);
    answer.socket.destroy();
  });

  test('server shutdown closes WebSockets to the fallback and does not wait for them', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${routedServer.mainPort}/ws`);
    const startedAt = Date.now();
    const wsClosed = closed(ws);
    expect(await routedServer.stop('SIGTERM', 20_000)).toBe(0);
    await wsClosed;
    expect(Date.now() - startedAt).toBeLessThan(8_000);
  });
});

/** The local app: a custom echo protocol, a refusing path, and a `ws` WebSocket echo. */
async function startUpgradeApp(): Promise<{ app: LocalApp; log: AppLog }> {
  const log: AppLog = { upgradeHeaders: [], wsCloses: [], speakFirstReceived: [] };
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: true,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const text = messageText(data);
      if (text === 'close-me') ws.close(4001, 'app done');
      else if (text === 'cut-me') ws.terminate();
      else ws.send(`echo:${text}`);
    });
    ws.on('close', (code, reason) => log.wsCloses.push({ code, reason: reason.toString() }));
  });
  const started = await startLocalApp((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('plain');
  });
  // Upgraded sockets are no longer the HTTP server's: close() must end them itself, or a socket
  // whose peer half-closed (the /hang handshake the client gave up on) keeps the server open.
  const rawSockets = new Set<net.Socket>();
  started.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    rawSockets.add(socket);
    socket.once('close', () => rawSockets.delete(socket));
    log.upgradeHeaders.push(req.headers);
    if (req.url === '/ws') {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } else if (req.url === '/echo') {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-echo/1\r\nConnection: Upgrade\r\nX-Echo-Greeting: Hello, tunnel\r\n\r\n',
      );
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
    } else if (req.url === '/speak-first') {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-echo/1\r\nConnection: Upgrade\r\n\r\n');
      socket.end(Buffer.alloc(256 * 1024, 7));
      const chunks: Buffer[] = [head];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.once('end', () => log.speakFirstReceived.push(sha256(Buffer.concat(chunks))));
    } else if (req.url === '/hang') {
      // Never answers; the standin client gives up after its request timeout and closes this socket.
    } else if (req.url === '/refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nnot allowed.');
    } else {
      socket.end('HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nno socket.');
    }
  });
  const close = started.close.bind(started);
  started.close = async () => {
    for (const ws of wss.clients) ws.terminate();
    for (const socket of rawSockets) socket.destroy();
    await close();
  };
  return { app: started, log };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
