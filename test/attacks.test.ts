/**
 * Attacks on the data path by a hostile client (valid token, its own tunnel), a hostile browser
 * and a hostile network, each against the real `standin server` process. After every attack the
 * server is still up and a bystander tunnel, served by the real client, still answers.
 */

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { httpRequest, type TestResponse } from './helpers/http';
import { sendDownloadBlocks, startLocalApp, type LocalApp } from './helpers/local-app';
import { rawUpgrade } from './helpers/raw-upgrade';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import { encodeFrame } from '#shared/protocol/wire-frame';

jest.setTimeout(30_000);

const TOKEN = 'attacks-token';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'x-standin-protocol': String(PROTOCOL_VERSION) };

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    req.resume();
    req.once('end', () => res.end(`app saw ${req.url}`));
  });
  server = await startServerProcess(['--token', TOKEN, '--poll-timeout', '500ms', '--request-timeout', '4s']);
  client = await startClientProcess(String(app.port), server.url, ['--token', TOKEN, '--name', 'bystander']);
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

function control(
  path: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<TestResponse> {
  return httpRequest(`${server.url}${path}`, { ...options, headers: { ...AUTH, ...options.headers } });
}

interface ManualTunnel {
  name: string;
  sessionId: string;
  port: number;
}

let tunnelCount = 0;

/** Registers a tunnel that the test itself serves, as a hostile client would. */
async function registerManual(): Promise<ManualTunnel> {
  const name = `attack-${++tunnelCount}`;
  const body = JSON.stringify({ protocol: PROTOCOL_VERSION, name, target: 'http://localhost:1' });
  const answer = await control('/_standin/v1/tunnels', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  expect(answer.status).toBe(201);
  const { sessionId, port } = JSON.parse(answer.text) as { sessionId: string; port: number };
  return { name, sessionId, port };
}

/** Polls until a poll answer carries requests; returns their ids (one request or a batch). */
async function takeRequestIds(tunnel: ManualTunnel, atLeast = 1): Promise<string[]> {
  let ids: string[] = [];
  for (let attempt = 0; attempt < 20 && ids.length < atLeast; attempt++) {
    const poll = await control(`/_standin/v1/tunnels/${tunnel.name}/poll`, { headers: { 'x-standin-session': tunnel.sessionId } });
    if (poll.status !== 200) continue;
    const newline = poll.body.indexOf(0x0a);
    const meta = JSON.parse(
      poll.body.subarray(newline + 1, newline + 1 + Number(poll.body.subarray(0, newline).toString())).toString(),
    ) as {
      kind: string;
      id?: string;
      requests?: { id: string }[];
    };
    ids = ids.concat(meta.kind === 'batch' ? meta.requests!.map((request) => request.id) : [meta.id!]);
  }
  expect(ids.length).toBeGreaterThanOrEqual(atLeast);
  return ids;
}

/** A respond POST for one request: the frame of `meta`, then `body`. */
function respond(tunnel: ManualTunnel, requestId: string, meta: unknown, body = ''): Promise<TestResponse> {
  const framed = Buffer.concat([encodeFrame(JSON.stringify(meta)), Buffer.from(body)]);
  return control(`/_standin/v1/tunnels/${tunnel.name}/responses/${requestId}`, {
    method: 'POST',
    headers: { 'x-standin-session': tunnel.sessionId, 'x-standin-not-a-poll': '1', 'content-length': framed.length },
    body: framed,
  });
}

/** A respond-to-several POST: the group frame, then the bodies back to back. */
function respondToSeveral(tunnel: ManualTunnel, responses: unknown[], bodies = ''): Promise<TestResponse> {
  const framed = Buffer.concat([encodeFrame(JSON.stringify({ kind: 'responses', responses })), Buffer.from(bodies)]);
  return control(`/_standin/v1/tunnels/${tunnel.name}/responses`, {
    method: 'POST',
    headers: { 'x-standin-session': tunnel.sessionId, 'x-standin-not-a-poll': '1', 'content-length': framed.length },
    body: framed,
  });
}

/** Sends raw bytes and returns everything the peer sent until it closed (or `timeoutMs`). */
function rawExchange(port: number, bytes: string | Buffer, timeoutMs: number): Promise<string> {
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

describe('a hostile client answers with a head Node cannot write', () => {
  const badHeads: [string, unknown[]][] = [
    ['a header name with a space', ['bad name', 'x']],
    ['an empty header name', ['', 'x']],
    ['a header value with CR LF', ['x-injected', 'a\r\nSet-Cookie: stolen=1']],
    ['a header value with a NUL byte', ['x-nul', 'a\u0000b']],
  ];

  test.each(badHeads)('one response with %s: the browser gets 502 at once and the server stays up', async (_, headers) => {
    const tunnel = await registerManual();
    const startedAt = Date.now();
    const browser = httpRequest(`http://127.0.0.1:${tunnel.port}/bad-head`, { timeoutMs: 8_000 });
    const [id] = await takeRequestIds(tunnel);
    await respond(tunnel, id, { kind: 'response', status: 200, headers, appMs: 1 }, 'body');
    const answer = await browser;
    expect(answer.status).toBe(502);
    expect(answer.headers['x-standin-error']).toBe('app_error');
    expect(answer.headers['set-cookie']).toBeUndefined();
    expect(Date.now() - startedAt).toBeLessThan(3_000);
  });

  test.each(badHeads)('a group with %s: its browser gets 502, the others of the group their answers', async (_, headers) => {
    const tunnel = await registerManual();
    const browsers = ['/first', '/second'].map((path) => httpRequest(`http://127.0.0.1:${tunnel.port}${path}`, { timeoutMs: 8_000 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [first, second] = await takeRequestIds(tunnel, 2);
    await respondToSeveral(
      tunnel,
      [
        { id: first, kind: 'response', status: 200, headers, appMs: 1, bodyBytes: 3 },
        { id: second, kind: 'response', status: 200, headers: ['content-type', 'text/plain'], appMs: 1, bodyBytes: 3 },
      ],
      'badgod',
    );
    const [bad, good] = await Promise.all(browsers);
    expect(bad.status).toBe(502);
    expect(good.status).toBe(200);
    expect(good.text).toBe('god');
  });
});

describe('a hostile client answers an ordinary request with an interim status', () => {
  test.each([100, 101, 103, 199])('status %i reaches the browser as 502, never as an interim or switching head', async (status) => {
    const tunnel = await registerManual();
    const browser = rawExchange(tunnel.port, 'GET /interim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3_000);
    const [id] = await takeRequestIds(tunnel);
    await respond(
      tunnel,
      id,
      { kind: 'response', status, headers: ['x-after', 'smuggled'], appMs: 1 },
      'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled',
    );
    const answer = await browser;
    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer).not.toContain('smuggled');
  });
});

/** Resident memory of a process, MiB (Linux). */
function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

describe('a hostile client makes the server hold memory', () => {
  test('respond-to-several POSTs for requests it was never handed, held open one byte short, do not make the server buffer their bodies', async () => {
    const tunnel = await registerManual();
    const posts = 150;
    const responsesPerPost = 16;
    const bodyBytes = 64 * 1024;
    const before = rssMiB(server.child.pid!);
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < posts; i++) {
        const responses = Array.from({ length: responsesPerPost }, () => ({
          id: randomUUID(),
          kind: 'response',
          status: 200,
          headers: [],
          appMs: 1,
          bodyBytes,
        }));
        const frame = encodeFrame(JSON.stringify({ kind: 'responses', responses }));
        const total = frame.length + responsesPerPost * bodyBytes;
        const head = `POST /_standin/v1/tunnels/${tunnel.name}/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nx-standin-protocol: ${PROTOCOL_VERSION}\r\nx-standin-session: ${tunnel.sessionId}\r\nContent-Length: ${total}\r\n\r\n`;
        const socket = net.connect(server.mainPort, '127.0.0.1');
        socket.on('error', () => undefined);
        sockets.push(socket);
        // Everything but the last byte: the server has the whole group but its end.
        await new Promise<void>((resolve) =>
          socket.write(Buffer.concat([Buffer.from(head), frame, Buffer.alloc(responsesPerPost * bodyBytes - 1, 0x61)]), () => resolve()),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const grownMiB = rssMiB(server.child.pid!) - before;
      expect(grownMiB).toBeLessThan(60);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

describe('long-lived responses', () => {
  let streamingApp: LocalApp;
  let streamingClient: ClientProcess;
  const openStreams: http.ClientRequest[] = [];

  beforeAll(async () => {
    streamingApp = await startLocalApp((req, res) => {
      if (req.url === '/events') {
        // An event stream that never ends, as EventSource and dev servers keep them.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: hello\n\n');
        return;
      }
      res.end('plain answer');
    });
    streamingClient = await startClientProcess(String(streamingApp.port), server.url, [
      '--token',
      TOKEN,
      '--name',
      'streams',
      '--concurrency',
      '2',
    ]);
  });

  afterAll(async () => {
    for (const stream of openStreams) stream.destroy();
    await streamingClient?.stop('SIGINT');
    await streamingApp?.close();
  });

  // A streamed response does not hold its poll slot (client/session/streaming-answers.ts): with as many
  // open event streams as the client has polls, the tunnel still has polls for other requests.
  test('as many open event streams as the client has polls still leave the tunnel serving other requests', async () => {
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const stream = http.get(`${streamingClient.publicUrl}/events`, { agent: false }, (res) => {
          res.once('data', () => resolve());
          res.on('error', () => undefined);
        });
        stream.on('error', reject);
        openStreams.push(stream);
      });
    }
    const plain = await httpRequest(`${streamingClient.publicUrl}/plain`, { timeoutMs: 6_000 });
    expect(plain.status).toBe(200);
    expect(plain.text).toBe('plain answer');
  });
});

describe('a far end that never reads', () => {
  let stuckApp: LocalApp;
  let upgradeClient: ClientProcess;
  const appSockets: net.Socket[] = [];

  beforeAll(async () => {
    stuckApp = await startLocalApp((req, res) => {
      // A plain download as fast as the connection allows; an upload the app never reads or answers.
      if (req.url === '/plain-download') return sendDownloadBlocks(res, 256);
      req.pause();
    });
    stuckApp.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      appSockets.push(socket);
      socket.on('error', () => undefined);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: flood\r\n\r\n');
      // It never reads what the browser sends; on /download it sends as fast as it is allowed to.
      socket.pause();
      if (req.url === '/download') writeWhileAllowed(socket);
    });
    upgradeClient = await startClientProcess(String(stuckApp.port), server.url, ['--token', TOKEN, '--name', 'stuck-upgrades']);
  });

  afterAll(async () => {
    for (const socket of appSockets) socket.destroy();
    await upgradeClient?.stop('SIGINT');
    await stuckApp?.close();
  });

  test.each(['upload', 'download'])(
    'a %s of 256 MiB into a reader that never reads is held back by backpressure, not buffered',
    async (direction) => {
      const before = { server: rssMiB(server.child.pid!), client: rssMiB(upgradeClient.child.pid!) };
      const answer = await rawUpgrade(upgradeClient.port, `/${direction}`, 'flood');
      expect(answer.status).toBe(101);
      answer.socket.on('error', () => undefined);
      let movedBytes = 0;
      if (direction === 'upload') movedBytes = await writeUntilStalled(answer.socket, 256 * 1024 * 1024, 1_500);
      else await new Promise((resolve) => setTimeout(resolve, 5_000));
      const grown = { server: rssMiB(server.child.pid!) - before.server, client: rssMiB(upgradeClient.child.pid!) - before.client };
      answer.socket.destroy();
      expect(grown.server).toBeLessThan(32);
      expect(grown.client).toBeLessThan(32);
      if (direction === 'upload') expect(movedBytes).toBeLessThan(128 * 1024 * 1024);
    },
  );

  test.each(['upload', 'download'])(
    'a plain HTTP %s of 256 MiB into a reader that never reads is held back by backpressure, not buffered',
    async (direction) => {
      const before = { server: rssMiB(server.child.pid!), client: rssMiB(upgradeClient.child.pid!) };
      const socket = net.connect(upgradeClient.port, '127.0.0.1');
      socket.on('error', () => undefined);
      let movedBytes = 0;
      if (direction === 'upload') {
        socket.write(`POST /plain-upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${256 * 1024 * 1024}\r\n\r\n`);
        movedBytes = await writeUntilStalled(socket, 256 * 1024 * 1024, 1_500);
      } else {
        socket.write('GET /plain-download HTTP/1.1\r\nHost: x\r\n\r\n');
        socket.pause();
        await new Promise((resolve) => setTimeout(resolve, 5_000));
      }
      const grown = { server: rssMiB(server.child.pid!) - before.server, client: rssMiB(upgradeClient.child.pid!) - before.client };
      socket.destroy();
      expect(grown.server).toBeLessThan(32);
      expect(grown.client).toBeLessThan(32);
      if (direction === 'upload') expect(movedBytes).toBeLessThan(128 * 1024 * 1024);
    },
  );
});

/** Writes blocks while the socket accepts them, up to 256 MiB (the app side of a download). */
function writeWhileAllowed(socket: net.Socket): void {
  const block = Buffer.alloc(64 * 1024, 0x62);
  let sentBytes = 0;
  const pump = () => {
    while (sentBytes < 256 * 1024 * 1024 && !socket.destroyed) {
      sentBytes += block.length;
      if (!socket.write(block)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

/** Writes blocks with backpressure until `maxBytes` or no drain for `stallMs`; returns bytes accepted. */
function writeUntilStalled(socket: net.Socket, maxBytes: number, stallMs: number): Promise<number> {
  const block = Buffer.alloc(64 * 1024, 0x61);
  return new Promise((resolve) => {
    let sentBytes = 0;
    const pump = () => {
      while (sentBytes < maxBytes && !socket.destroyed) {
        sentBytes += block.length;
        if (!socket.write(block)) {
          const stalled = setTimeout(() => resolve(sentBytes), stallMs);
          socket.once('drain', () => {
            clearTimeout(stalled);
            pump();
          });
          return;
        }
      }
      resolve(sentBytes);
    };
    pump();
  });
}

describe('a hostile network stalls a poll answer inside its frame', () => {
  let stallingProxy: { url: string; close: () => Promise<void> };
  let stalledClient: ClientProcess;

  beforeAll(async () => {
    stallingProxy = await startStallingProxy(server.mainPort, '/stall-me');
    stalledClient = await startClientProcess(String(app.port), stallingProxy.url, [
      '--token',
      TOKEN,
      '--name',
      'stalled',
      '--concurrency',
      '1',
    ]);
  });

  afterAll(async () => {
    await stalledClient?.stop('SIGINT');
    await stallingProxy?.close();
  });

  test('the slot gives the answer up and polls again instead of waiting for the rest of the frame forever', async () => {
    const victim = await httpRequest(`${stalledClient.publicUrl}/stall-me`, { timeoutMs: 10_000 });
    expect(victim.status).toBe(504);
    await stalledClient.waitForLine((line) => line.message === 'poll answer lost, polling again', 10_000);
    const after = await httpRequest(`${stalledClient.publicUrl}/after`, { timeoutMs: 10_000 });
    expect(after.status).toBe(200);
    expect(after.text).toBe('app saw /after');
  });
});

/**
 * A reverse proxy to the server that passes everything through, except the poll answer carrying
 * `victimPath`: of that one it sends the head and 3 bytes of the frame, then nothing, and keeps
 * the connection open (a path that went silent without a FIN or RST).
 */
async function startStallingProxy(upstreamPort: number, victimPath: string): Promise<{ url: string; close: () => Promise<void> }> {
  const proxy = http.createServer((req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('error', () => res.destroy());
        answer.once('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          if (answer.statusCode === 200 && body.includes(victimPath)) res.write(body.subarray(0, 3));
          else res.end(body);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

describe('upgrade handshakes answered the wrong way', () => {
  test('a group answer naming an upgrade handshake with 101 does not switch the browser to a connection nobody carries', async () => {
    const tunnel = await registerManual();
    const browser = rawUpgrade(tunnel.port, '/socket', 'websocket', [], 8_000).then(
      (answer) => {
        answer.socket.destroy();
        return answer.status;
      },
      () => 0,
    );
    const id = await takeHandshakeId(tunnel);
    await respondToSeveral(tunnel, [
      { id, kind: 'response', status: 101, headers: ['Connection', 'Upgrade', 'Upgrade', 'websocket'], appMs: 1, bodyBytes: 0 },
    ]);
    expect(await browser).toBe(502);
  });
});

/** Polls once for an upgrade handshake, whose poll answer stays open; resolves with its id from the frame. */
function takeHandshakeId(tunnel: ManualTunnel): Promise<string> {
  return new Promise((resolve, reject) => {
    const poll = http.request(
      `${server.url}/_standin/v1/tunnels/${tunnel.name}/poll`,
      { headers: { ...AUTH, 'x-standin-session': tunnel.sessionId }, agent: false },
      (answer) => {
        answer.on('error', () => undefined);
        answer.once('data', (chunk: Buffer) => {
          const newline = chunk.indexOf(0x0a);
          resolve(
            (
              JSON.parse(chunk.subarray(newline + 1, newline + 1 + Number(chunk.subarray(0, newline).toString())).toString()) as {
                id: string;
              }
            ).id,
          );
        });
      },
    );
    poll.setTimeout(5_000, () => poll.destroy(new Error('no handshake within 5 s')));
    poll.on('error', reject);
    poll.end();
  });
}

describe('a browser that pipelines', () => {
  test('100 pipelined requests on one connection get 100 answers, each its own, in order', async () => {
    const paths = Array.from({ length: 100 }, (_, i) => `/pipelined-${i}`);
    const raw = await rawExchange(
      client.port,
      paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`).join('') +
        'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      20_000,
    );
    const bodies = [...raw.matchAll(/app saw (\/[a-z0-9-]+)/g)].map((match) => match[1]);
    expect(bodies).toEqual([...paths, '/last']);
  });
});
