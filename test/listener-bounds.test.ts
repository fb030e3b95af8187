/**
 * Every listener (main port and tunnel ports) has the same bounds (server/listeners/http-listener.ts): a
 * connection that sends nothing, or trickles its head, is closed after --headers-timeout, and one
 * source address holds at most --max-connections-per-source connections, while a second source
 * (127.0.0.2) is still served.
 */

import net from 'node:net';
import { HostileClient } from './helpers/hostile-client';
import { startServerProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(30_000);

const CAP = 20;

let server: ServerProcess;
let client: HostileClient;

beforeAll(async () => {
  server = await startServerProcess(['--headers-timeout', '1s', '--max-connections-per-source', String(CAP)]);
  client = await HostileClient.register(server.url, 'bounds');
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

afterEach(() => {
  expect(server.child.exitCode).toBeNull();
});

interface WatchedSocket {
  socket: net.Socket;
  received(): string;
  /** Ms from connect until the server closed it, or null while open. */
  closedAfterMs(): number | null;
  closed: Promise<void>;
}

function connect(port: number, localAddress = '127.0.0.1'): Promise<WatchedSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    let closedAt: number | null = null;
    const openedAt = Date.now();
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((done) => socket.once('close', () => ((closedAt = Date.now() - openedAt), done())));
    socket.once('connect', () => resolve({ socket, received: () => text, closedAfterMs: () => closedAt, closed }));
    socket.once('error', reject);
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([promise, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref())]);
}

test.each([
  ['main port', () => server.mainPort],
  ['tunnel port', () => client.port],
])('on the %s a silent connection and a trickled head are closed after the headers timeout', async (_where, port) => {
  const silent = await connect(port());
  const trickle = await connect(port());
  trickle.socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const keepTrickling = setInterval(() => trickle.socket.write('X-Slow: 1\r\n'), 200);
  try {
    expect(await within(silent.closed, 4_000)).not.toBe('timeout');
    expect(await within(trickle.closed, 4_000)).not.toBe('timeout');
  } finally {
    clearInterval(keepTrickling);
  }
  expect(silent.closedAfterMs()).toBeGreaterThanOrEqual(900);
});

test('a connection that sent a request stays open while it is used', async () => {
  const used = await connect(server.mainPort);
  for (let i = 0; i < 3; i++) {
    used.socket.write('GET /_standin/healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 600));
  }
  expect(used.received().match(/HTTP\/1\.1 200/g)).toHaveLength(3);
  expect(used.closedAfterMs()).toBeNull();
  used.socket.destroy();
});

test('past the per-source cap new connections are refused, while another source is still served', async () => {
  const held: WatchedSocket[] = [];
  try {
    for (let i = 0; i < CAP; i++) held.push(await connect(server.mainPort));
    // Each held one sends a request now and then, so the headers timeout does not close it.
    for (const watched of held) watched.socket.write('GET /_standin/healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const refused = await connect(server.mainPort);
    refused.socket.write('GET /_standin/healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await within(refused.closed, 2_000)).not.toBe('timeout');
    expect(refused.received()).toBe('');

    const other = await connect(server.mainPort, '127.0.0.2');
    other.socket.write('GET /_standin/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await within(other.closed, 3_000);
    expect(other.received()).toMatch(/^HTTP\/1\.1 200 /);
  } finally {
    for (const watched of held) watched.socket.destroy();
  }
  // The slots come back when the connections close.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const again = await connect(server.mainPort);
  again.socket.write('GET /_standin/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await within(again.closed, 3_000);
  expect(again.received()).toMatch(/^HTTP\/1\.1 200 /);
});
