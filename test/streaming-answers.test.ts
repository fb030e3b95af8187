/**
 * Responses that stream for long (event streams) and the poll slots: the real client lets a
 * streamed answer leave its slot (client/streaming-answers.ts), and the server does not take a
 * client whose polls are all busy streaming responses for gone (server/session-liveness.ts).
 */

import http from 'node:http';
import { httpRequest } from './helpers/http';
import { HostileClient } from './helpers/hostile-client';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

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
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => httpRequest(`${client.publicUrl}/plain-${i}`, { timeoutMs: 5_000 })));
    expect(answers.map((answer) => answer.text)).toEqual(Array.from({ length: 5 }, (_, i) => `plain answer to /plain-${i}`));
  });
});
