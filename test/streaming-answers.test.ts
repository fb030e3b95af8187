/**
 * Responses that stream for long (event streams) and the poll slots: the real client lets a
 * streamed answer leave its slot (client/session/streaming-answers.ts), and the server does not take a
 * client whose polls are all busy streaming responses for gone (server/core/session-liveness.ts).
 */

import http from 'node:http';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import { encodeFrame } from '#shared/protocol/wire-frame';
import { httpRequest } from './helpers/http';
import { HostileClient } from './helpers/hostile-client';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { StreamingAnswers } from '../client/session/streaming-answers';

jest.setTimeout(30_000);

const TOKEN = 'streaming-answers-token';

let server: ServerProcess;

beforeAll(async () => {
  // A short poll timeout makes "silent for poll-timeout + grace" come in 5.5 s; the request timeout is longer.
  server = await startServerProcess(['--token', TOKEN, '--poll-timeout', '500ms', '--request-timeout', '20s']);
});

afterAll(async () => {
  await server?.stop();
});

/** Opens a browser request that stays open; resolves when its first body bytes arrived. */
function openStream(url: string, opened: http.ClientRequest[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (res) => {
      res.once('data', () => resolve());
      res.on('error', () => undefined);
    });
    request.on('error', reject);
    opened.push(request);
  });
}

test('a client whose every poll is busy streaming a response is not taken for gone', async () => {
  const client = await HostileClient.register(server.url, 'busy-slots', TOKEN);
  const opened: http.ClientRequest[] = [];
  try {
    const streaming = openStream(`http://127.0.0.1:${client.port}/events`, opened);
    const streamId = (await client.nextRequest()).id;
    // Its only slot now streams an event stream, and no other poll is open.
    client.respondStreaming(streamId, { status: 200, headers: ['Content-Type', 'text/event-stream'] }).write('data: hello\n\n');
    await streaming;
    const plain = httpRequest(`http://127.0.0.1:${client.port}/plain`, { timeoutMs: 20_000 });
    // Past poll-timeout + grace with no poll: the stream still shows the client is there.
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    const [poll] = await client.pollMany(1);
    expect(poll.status === 'fulfilled' && poll.value.kind).toBe('request');
    if (poll.status === 'fulfilled' && poll.value.kind === 'request') {
      poll.value.body.resume();
      client.respond(poll.value.meta.id, { status: 200, headers: [] }, 'plain answer');
    }
    expect((await plain).text).toBe('plain answer');
  } finally {
    for (const request of opened) request.destroy();
    await client.close();
  }
});

/** A respond POST with a hand-made framed body, as a hostile client would send it. */
function postFramed(client: HostileClient, requestId: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const post = http.request(`${server.url}/_standin/v1/tunnels/${client.name}/responses/${requestId}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'x-standin-protocol': String(PROTOCOL_VERSION),
        'x-standin-session': client.sessionId,
        'x-standin-not-a-poll': '1',
        'content-length': body.length,
      },
    });
    post.on('response', (res) => (res.resume(), resolve(res.statusCode ?? 0)));
    post.on('error', reject);
    post.end(body);
  });
}

/** A browser request that records the interim answers it gets before the final one. */
function browse(
  url: string,
): Promise<{ interims: { status: number; rawHeaders: string[] }[]; status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const interims: { status: number; rawHeaders: string[] }[] = [];
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ interims, status: res.statusCode ?? 0, body }));
      res.on('error', (error) => resolve({ interims, status: res.statusCode ?? 0, body, error: error.message }));
    });
    req.on('information', (info) => interims.push({ status: info.statusCode, rawHeaders: info.rawHeaders }));
    req.on('error', (error) => resolve({ interims, status: 0, body: '', error: error.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
  });
}

test("a client's interim frames reach the browser only while well-formed, at most 16, and the final answer follows", async () => {
  const client = await HostileClient.register(server.url, 'many-interims', TOKEN);
  try {
    const browsing = browse(`http://127.0.0.1:${client.port}/slow`);
    const id = (await client.nextRequest()).id;
    const interim = (headers: string[]) => encodeFrame(JSON.stringify({ kind: 'interim', status: 103, headers }));
    const frames = [
      interim(['X-Split', 'a\r\nHTTP/1.1 200 OK']),
      ...Array.from({ length: 30 }, (_, i) => interim(['Link', `</${i}.css>; rel=preload`])),
    ];
    const final = encodeFrame(JSON.stringify({ kind: 'response', status: 200, headers: ['Content-Length', '4'], appMs: 1 }));
    expect(await postFramed(client, id, Buffer.concat([...frames, final, Buffer.from('done')]))).toBe(204);
    const seen = await browsing;
    expect(seen.interims.length).toBe(15);
    expect(seen.interims.every((info) => info.status === 103 && info.rawHeaders[0] === 'Link')).toBe(true);
    expect([seen.status, seen.body]).toEqual([200, 'done']);
  } finally {
    await client.close();
  }
});

test('a chunked body that is not one cuts that response only', async () => {
  const client = await HostileClient.register(server.url, 'bad-chunks', TOKEN);
  try {
    const browsing = browse(`http://127.0.0.1:${client.port}/chunks`);
    const id = (await client.nextRequest()).id;
    const head = encodeFrame(
      JSON.stringify({ kind: 'response', status: 200, headers: ['Trailer', 'X-Sum'], appMs: 1, trailersFollow: true }),
    );
    await postFramed(client, id, Buffer.concat([head, Buffer.from('2\nok'), Buffer.from('not a length')])).catch(() => 0);
    const seen = await browsing;
    // The connection is cut (before or after the head went out), never ended as if the body were whole.
    expect(seen.error).toBeDefined();
    // The tunnel goes on serving.
    const next = browse(`http://127.0.0.1:${client.port}/next`);
    client.respond((await client.nextRequest()).id, { status: 200, headers: [] }, 'next');
    expect((await next).body).toBe('next');
  } finally {
    await client.close();
  }
});

describe('the real client', () => {
  let app: LocalApp;
  let client: ClientProcess;
  const opened: http.ClientRequest[] = [];

  beforeAll(async () => {
    app = await startLocalApp((req, res) => {
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: hello\n\n');
        return;
      }
      res.end(`plain answer to ${req.url}`);
    });
    client = await startClientProcess(String(app.port), server.url, ['--token', TOKEN, '--name', 'many-streams', '--concurrency', '1']);
  });

  afterAll(async () => {
    for (const request of opened) request.destroy();
    await client?.stop('SIGINT');
    await app?.close();
  });

  test('ten open event streams through a client with one poll leave it serving other requests at once', async () => {
    for (let i = 0; i < 10; i++) await openStream(`${client.publicUrl}/events`, opened);
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => httpRequest(`${client.publicUrl}/plain-${i}`, { timeoutMs: 5_000 })),
    );
    expect(answers.map((answer) => answer.text)).toEqual(Array.from({ length: 5 }, (_, i) => `plain answer to /plain-${i}`));
  });
});

test('streamed answers leave their slots only up to the bound; a place comes back when one ends', () => {
  const places = new StreamingAnswers(2);
  expect([places.tryTake(), places.tryTake(), places.tryTake()]).toEqual([true, true, false]);
  places.release();
  expect(places.tryTake()).toBe(true);
  expect(places.count).toBe(2);
});
