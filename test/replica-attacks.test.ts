/**
 * Replica mode (docs/replicas.md) under attack: an outsider on the internal port, a browser that
 * dresses up as another replica, a developer's client that answers for requests it was never
 * given, and garbage in Redis. Real processes: one redis-server and two `standin server --redis`
 * replicas on their own loopback addresses (127.0.0.2, 127.0.0.3; Linux routes 127/8 to
 * loopback), sharing the main and tunnel ports as pods behind one Service do.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import { echoHandler, startLocalApp, type LocalApp } from './helpers/local-app';
import { eventually, httpRequest } from './helpers/http';
import { ServerConnection } from '../client/session/server-connection';
import { spawnStandin, startClientProcess, type ClientProcess, type StandinProcess } from './helpers/processes';

jest.setTimeout(60_000);

const REDIS_BIN = '/usr/bin/redis-server';
const CLUSTER_SECRET = 'attack-test-cluster-secret-0123';

/** A redis-server of our own, without persistence. */
interface Redis {
  port: number;
  child: ChildProcess;
  /** Runs one redis command through a raw RESP connection (no client library in the test). */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** One replica: its bound address, main port, internal port. */
interface Replica {
  address: string;
  process: StandinProcess;
  mainUrl: string;
  internalPort: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<Redis> {
  const port = await freePort();
  const child = spawn(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const command = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let reply = '';
      socket.setTimeout(3_000, () => socket.destroy(new Error('redis command timed out')));
      socket.on('data', (chunk) => {
        reply += chunk.toString('latin1');
        if (reply.endsWith('\r\n')) socket.end();
      });
      socket.on('end', () => resolve(reply));
      socket.on('error', reject);
      socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`);
    });
  await eventually(async () => (await command('PING').catch(() => '')).startsWith('+PONG'), 10_000, 50);
  return {
    port,
    child,
    command,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

interface Cluster {
  redis: Redis;
  replicas: Replica[];
  /** Starts one more replica (on the next loopback address). */
  addReplica(): Promise<Replica>;
  mainPort: number;
  tunnelPorts: { from: number; to: number };
  stop(): Promise<void>;
}

async function startCluster(count = 2, extraArgs: string[] = []): Promise<Cluster> {
  const redis = await startRedis();
  const mainPort = await freePort();
  const from = 20_000 + Math.floor(Math.random() * 400) * 100;
  const tunnelPorts = { from, to: from + 9 };
  const replicas: Replica[] = [];
  const addReplica = async () => {
    const address = `127.0.0.${replicas.length + 2}`;
    const process = spawnStandin([
      'server',
      '--bind',
      address,
      '--listen',
      String(mainPort),
      '--ports',
      `${from}-${tunnelPorts.to}`,
      '--log-level',
      'debug',
      '--redis',
      `redis://127.0.0.1:${redis.port}`,
      '--internal-listen',
      '0',
      '--cluster-secret',
      CLUSTER_SECRET,
      ...extraArgs,
    ]);
    const started = await process.waitForLine((line) => line.message === 'replica started', 15_000);
    await process.waitForLine((line) => line.message === 'standin server listening', 15_000);
    const replica = { address, process, mainUrl: `http://${address}:${mainPort}`, internalPort: Number(started.internalPort) };
    replicas.push(replica);
    return replica;
  };
  for (let i = 0; i < count; i++) await addReplica();
  // Every replica sees every other one in the directory (heartbeat every second).
  await eventually(
    async () => {
      for (const replica of replicas) {
        const list = JSON.parse((await httpRequest(`${replica.mainUrl}/_standin/api/replicas`)).text) as unknown[];
        if (list.length !== count) return false;
      }
      return true;
    },
    10_000,
    200,
  );
  return {
    redis,
    replicas,
    addReplica,
    mainPort,
    tunnelPorts,
    stop: async () => {
      await Promise.all(replicas.map((replica) => replica.process.stop('SIGKILL')));
      await redis.stop();
    },
  };
}

/** A client that polls only `replica` (its --server), so a browser on another replica takes the hop. */
async function connectTo(replica: Replica, app: LocalApp, name: string, extraArgs: string[] = []): Promise<ClientProcess> {
  return startClientProcess(String(app.port), replica.mainUrl, ['--name', name, '--no-inspect', ...extraArgs]);
}

/** Signs an internal call as a replica with `secret` would. */
function sign(secret: string, method: string, pathAndQuery: string, at = Date.now()): string {
  const nonce = randomBytes(16).toString('hex');
  return `${at}.${nonce}.${createHmac('sha256', secret).update(`${at}\n${nonce}\n${method}\n${pathAndQuery}`).digest('hex')}`;
}

function internalRequest(
  replica: Replica,
  pathAndQuery: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {},
) {
  return httpRequest(`http://${replica.address}:${replica.internalPort}${pathAndQuery}`, {
    method: options.method ?? 'POST',
    headers: options.headers,
    body: options.body,
    timeoutMs: 5_000,
  });
}

const tempHomes: string[] = [];
afterAll(() => {
  for (const home of tempHomes) fs.rmSync(home, { recursive: true, force: true });
});

describe('the internal port refuses anyone without a fresh signature of this very call', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(2);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('answers 401, the same for every refusal, without a signature, with a wrong, expired, other-path or other-method one', async () => {
    const [a] = cluster.replicas;
    const browserPath = '/_standin/internal/v1/tunnels/some-tunnel/browser';
    const refusals = [
      {},
      { 'x-standin-cluster-auth': 'garbage' },
      { 'x-standin-cluster-auth': sign('a-wrong-cluster-secret-000000', 'POST', browserPath) },
      { 'x-standin-cluster-auth': sign(CLUSTER_SECRET, 'POST', browserPath, Date.now() - 60_000) },
      { 'x-standin-cluster-auth': sign(CLUSTER_SECRET, 'POST', browserPath, Date.now() + 60_000) },
      { 'x-standin-cluster-auth': sign(CLUSTER_SECRET, 'POST', '/_standin/internal/v1/tunnels/some-tunnel/probe') },
      { 'x-standin-cluster-auth': sign(CLUSTER_SECRET, 'GET', browserPath) },
      { 'x-standin-cluster-auth': [sign(CLUSTER_SECRET, 'POST', browserPath), sign(CLUSTER_SECRET, 'POST', browserPath)] },
    ];
    const bodies = new Set<string>();
    for (const headers of refusals) {
      const response = await internalRequest(a, browserPath, { headers });
      expect(response.status).toBe(401);
      bodies.add(response.text);
    }
    // Nothing in the answer tells an unsigned caller which paths exist.
    const unknownPath = await internalRequest(a, '/_standin/internal/v1/nothing-here');
    expect(unknownPath.status).toBe(401);
    bodies.add(unknownPath.text);
    expect(bodies.size).toBe(1);
  });

  it('refuses a signature seen before (a replay), while a fresh one for the same call passes', async () => {
    const [a] = cluster.replicas;
    const unknownPath = '/_standin/internal/v1/nothing-here';
    const signature = sign(CLUSTER_SECRET, 'POST', unknownPath);
    const first = await internalRequest(a, unknownPath, { headers: { 'x-standin-cluster-auth': signature } });
    expect(first.status).toBe(404);
    const replayed = await internalRequest(a, unknownPath, { headers: { 'x-standin-cluster-auth': signature } });
    expect(replayed.status).toBe(401);
    const fresh = await internalRequest(a, unknownPath, {
      headers: { 'x-standin-cluster-auth': sign(CLUSTER_SECRET, 'POST', unknownPath) },
    });
    expect(fresh.status).toBe(404);
  });

  it('closes an unsigned Upgrade on the internal port without a byte', async () => {
    const [a] = cluster.replicas;
    const received = await new Promise<string>((resolve) => {
      const socket = net.connect(a.internalPort, a.address);
      let text = '';
      socket.setTimeout(5_000, () => socket.destroy());
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', () => undefined);
      socket.write('GET /_standin/internal/v1/tunnels/x/browser HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    });
    expect(received).toBe('');
  });
});

describe('a browser cannot pass for a replica through the public ports', () => {
  let cluster: Cluster;
  let app: LocalApp;
  let client: ClientProcess;
  beforeAll(async () => {
    // No proxy is trusted: the browser's own X-Forwarded-* must count for nothing, on 1 hop as on 2.
    cluster = await startCluster(2, ['--trust-proxy', 'none']);
    app = await startLocalApp(echoHandler());
    client = await connectTo(cluster.replicas[1], app, 'spoof');
  });
  afterAll(async () => {
    await client?.stop();
    await app?.close();
    await cluster?.stop();
  });

  it('shows the app the same request whether it took the hop or not, with nothing the browser claimed about its source', async () => {
    const [a, b] = cluster.replicas;
    const hostile = {
      host: 'app.example',
      'x-standin-forwarded-peer': '10.9.9.9',
      'x-standin-forwarded-trusted': '1',
      'x-standin-forwarded-tls': '1',
      'x-standin-forwarded-url': encodeURIComponent('/admin'),
      'x-standin-cluster-auth': sign(CLUSTER_SECRET, 'POST', '/_standin/internal/v1/tunnels/spoof/browser'),
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
      connection: 'keep-alive, x-hop-secret',
      'x-hop-secret': 'only for the first proxy',
    };
    await eventually(
      async () => (await httpRequest(`http://${a.address}:${client.port}/`, { timeoutMs: 5_000 })).status === 200,
      10_000,
      100,
    );
    const seen = async (address: string) => {
      const response = await httpRequest(`http://${address}:${client.port}/page?q=1`, { headers: hostile });
      expect(response.status).toBe(200);
      return JSON.parse(response.text) as { url: string; headers: Record<string, string> };
    };
    const oneHop = await seen(b.address);
    const twoHops = await seen(a.address);
    for (const echo of [oneHop, twoHops]) {
      expect(echo.url).toBe('/page?q=1');
      for (const name of Object.keys(echo.headers))
        expect(name.startsWith('x-standin-forwarded') || name === 'x-standin-cluster-auth').toBe(false);
      expect(echo.headers['x-hop-secret']).toBeUndefined();
      expect(echo.headers['x-forwarded-proto']).toBe('http');
      expect(echo.headers['x-forwarded-host']).toBe('app.example');
      expect(echo.headers['x-forwarded-for']).toBe('6.6.6.6, 127.0.0.1');
    }
    const comparable = (echo: { headers: Record<string, string> }) => {
      const copy = { ...echo.headers };
      for (const name of ['x-standin-request-id', 'x-request-id', 'traceparent']) delete copy[name];
      return copy;
    };
    expect(comparable(twoHops)).toEqual(comparable(oneHop));
  });
});

describe('a replica the client does not poll does not pass for one it polls', () => {
  let cluster: Cluster;
  let app: LocalApp;
  let client: ClientProcess | undefined;
  beforeAll(async () => {
    cluster = await startCluster(2);
    app = await startLocalApp(echoHandler());
  });
  afterAll(async () => {
    await client?.stop();
    await app?.close();
    await cluster?.stop();
  });

  it('neither claims the client in its presence nor parks a browser request for polls that never come', async () => {
    const [a, b] = cluster.replicas;
    client = await connectTo(b, app, 'fresh');
    // At once after "tunnel ready": replica A may not know yet where the client polls, but it
    // must answer now (served through B, or 503), not hold the browser for the request timeout.
    const startedAt = Date.now();
    const first = await httpRequest(`http://${a.address}:${client.port}/right-away`, { timeoutMs: 8_000 });
    expect([200, 503]).toContain(first.status);
    expect(Date.now() - startedAt).toBeLessThan(3_000);
    // A's presence entry in Redis never names the tunnel: its client polls B only.
    const replicas = JSON.parse((await httpRequest(`${a.mainUrl}/_standin/api/replicas`)).text) as Array<{ id: string; self: boolean }>;
    const aId = replicas.find((replica) => replica.self)!.id;
    for (let i = 0; i < 10; i++) {
      expect(await cluster.redis.command('GET', `standin:presence:${aId}`)).not.toContain('fresh');
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect((await httpRequest(`http://${a.address}:${client.port}/later`)).status).toBe(200);
  });

  it('serves a request another replica passed on where it landed, never passing it on again (no loops)', async () => {
    const [a, b] = cluster.replicas;
    // As if B had passed it to A on a stale view: A holds no poll of the tunnel, B does.
    const browserPath = '/_standin/internal/v1/tunnels/fresh/browser';
    const startedAt = Date.now();
    const response = await internalRequest(a, browserPath, {
      method: 'GET',
      headers: {
        'x-standin-cluster-auth': sign(CLUSTER_SECRET, 'GET', browserPath),
        'x-standin-forwarded-url': encodeURIComponent('/loop-probe'),
        'x-standin-forwarded-peer': '127.0.0.1',
        'x-standin-forwarded-trusted': '0',
        'x-standin-forwarded-tls': '0',
      },
    });
    expect(response.status).toBe(503);
    expect(Date.now() - startedAt).toBeLessThan(3_000);
    await eventually(() => a.process.lines.some((line) => JSON.stringify(line).includes('loop-probe')), 5_000, 50);
    expect(b.process.lines.some((line) => JSON.stringify(line).includes('loop-probe'))).toBe(false);
  });
});

describe('garbage in Redis costs no replica its life nor its tunnels', () => {
  let cluster: Cluster;
  let app: LocalApp;
  let client: ClientProcess | undefined;
  let late: ClientProcess | undefined;
  beforeAll(async () => {
    cluster = await startCluster(2);
    app = await startLocalApp(echoHandler());
  });
  afterAll(async () => {
    await late?.stop();
    await client?.stop();
    await app?.close();
    await cluster?.stop();
  });

  it('keeps serving, registering and starting replicas with corrupt standin:* keys', async () => {
    const [a, b] = cluster.replicas;
    client = await connectTo(b, app, 'steady');
    await eventually(
      async () => (await httpRequest(`http://${a.address}:${client!.port}/`, { timeoutMs: 5_000 })).status === 200,
      10_000,
      100,
    );
    const redis = (...args: string[]) => cluster.redis.command(...args);
    const closedPort = await freePort();
    const garbage: string[][] = [
      // Tunnels: a key of the wrong type, names that are no DNS label, records of the wrong shape.
      ['SADD', 'standin:tunnels', 'wrong-type', 'Not A Name', '../../etc', 'x'.repeat(300), 'shapeless', 'nulls'],
      ['SET', 'standin:tunnel:wrong-type', 'a string, not a hash'],
      [
        'HSET',
        'standin:tunnel:Not A Name',
        'session',
        JSON.stringify({
          sessionId: 's',
          target: 'http://127.0.0.1:1',
          port: null,
          expiresAt: Date.now() + 60_000,
          user: null,
          privateAccessKey: null,
        }),
      ],
      [
        'HSET',
        'standin:tunnel:shapeless',
        'session',
        JSON.stringify({
          sessionId: 's2',
          target: 'http://127.0.0.1:1',
          port: 'abc',
          expiresAt: 'soon',
          owner: {},
          user: 5,
          privateAccessKey: 7,
        }),
        'stop',
        '5',
        'polled',
        '1',
      ],
      ['HSET', 'standin:tunnel:nulls', 'session', 'null', 'stop', 'null'],
      // Claims and ports that are no JSON, or JSON of the wrong shape.
      [
        'HSET',
        'standin:claims',
        'nojson',
        '{',
        'shape',
        JSON.stringify({ name: 'shape', ownerHash: 5, lastUsedAt: 'yesterday' }),
        'steady',
        '[]',
      ],
      [
        'HSET',
        'standin:ports',
        '99999',
        JSON.stringify({ name: 'far', port: 99999 }),
        'p',
        JSON.stringify({ name: {}, port: 1 }),
        'q',
        '"q"',
      ],
      // A replica that is no replica, with presence claiming every idle poll of the tunnel.
      ['SADD', 'standin:replicas', 'fake', 'fake2'],
      [
        'SET',
        'standin:replica:fake',
        JSON.stringify({ id: 'fake', tag: 'zzzz', advertise: 'nohost', startedAt: 'x', draining: 'no' }),
        'PX',
        '600000',
      ],
      ['SET', 'standin:replica:fake2', '[1,2,3]', 'PX', '600000'],
      ['SET', 'standin:presence:fake', JSON.stringify({ steady: [5, true] }), 'PX', '600000'],
      ['SET', 'standin:presence:fake2', '"steady"', 'PX', '600000'],
      // A well-formed replica that is gone (nothing listens at its address) but claims the polls.
      ['SADD', 'standin:replicas', 'gone'],
      [
        'SET',
        'standin:replica:gone',
        JSON.stringify({ id: 'gone', tag: 'deadbeef', advertise: `127.0.0.1:${closedPort}`, startedAt: 1, draining: false }),
        'PX',
        '600000',
      ],
      ['SET', 'standin:presence:gone', JSON.stringify({ steady: [50, true] }), 'PX', '600000'],
      // Health history, recent requests, the lease and the event channel.
      ['RPUSH', 'standin:health:steady', '{', 'null', '[]', JSON.stringify({ at: 'x', ok: 'yes' })],
      [
        'LPUSH',
        'standin:recent:steady',
        '{',
        'null',
        JSON.stringify({ url: 5 }),
        JSON.stringify({ url: '/x', status: 'teapot', startedAt: {} }),
      ],
      // A lock and a lease that never expire.
      ['SET', 'standin:lease:health', JSON.stringify({ not: 'an id' })],
      ['SET', 'standin:lock:registration', 'stuck'],
      ['PUBLISH', 'standin:events', 'wrong-type'],
      ['PUBLISH', 'standin:events', 'shapeless'],
      ['PUBLISH', 'standin:events', ''],
    ];
    for (const command of garbage) await redis(...command);
    // Long enough for heartbeats, presence exchanges, re-reads (3 s) and the health lease to meet all of it.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    // A replica that starts now loads the good tunnels past the bad ones.
    const c = await cluster.addReplica();
    for (const replica of [a, b, c]) {
      expect(replica.process.child.exitCode).toBeNull();
      for (let i = 0; i < 5; i++) {
        const response = await httpRequest(`http://${replica.address}:${client.port}/through-${i}`, { timeoutMs: 8_000 });
        expect(response.status).toBe(200);
      }
      expect((await httpRequest(`${replica.mainUrl}/_standin/api/tunnels`)).status).toBe(200);
      expect((await httpRequest(`${replica.mainUrl}/_standin/api/tunnels/steady/requests`)).status).toBe(200);
      expect((await httpRequest(`${replica.mainUrl}/_standin/readyz`)).status).toBe(200);
    }
    // Some replica holds the health lease again (a replica's lease always expires).
    expect(await redis('PTTL', 'standin:lease:health')).toMatch(/^:[1-9]/);
    // Registration still works, on a replica that saw the garbage from the start.
    const registering = new ServerConnection(new URL(a.mainUrl), null, 4);
    const registered = await registering
      .register({ name: 'fresh-after-garbage', target: 'http://127.0.0.1:1' })
      .finally(() => registering.close());
    expect(registered.sessionId).toBeTruthy();
    late = await connectTo(a, app, 'late');
    expect(
      (await httpRequest(`http://${c.address}:${late.port}/`, { timeoutMs: 8_000 }).catch(() => undefined))?.status ?? 0,
    ).toBeGreaterThan(0);
    for (const replica of [a, b, c]) expect(replica.process.child.exitCode).toBeNull();
  });
});

describe("a developer's client cannot answer another tunnel's request through another replica", () => {
  let cluster: Cluster;
  let app: LocalApp;
  let victim: ClientProcess | undefined;
  let attacker: ServerConnection | undefined;
  const held: http.ServerResponse[] = [];
  const seenIds: string[] = [];
  beforeAll(async () => {
    cluster = await startCluster(2);
    // The victim's app keeps every request until the test lets it answer.
    app = await startLocalApp((req, res) => {
      seenIds.push(String(req.headers['x-standin-request-id']));
      held.push(res);
    });
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    await attacker?.close();
    await victim?.stop();
    await app?.close();
    await cluster?.stop();
  });

  it('refuses, as a single server does, answers and groups for a request held on another replica', async () => {
    const [a, b] = cluster.replicas;
    victim = await connectTo(b, app, 'victim');
    // Until A has read B's presence (every 200 ms), A does not know where the client polls.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const browser = httpRequest(`http://${a.address}:${victim.port}/secret`, { timeoutMs: 20_000 });
    await eventually(() => seenIds.length === 1, 10_000, 50);
    const victimId = seenIds[0];
    attacker = new ServerConnection(new URL(a.mainUrl), null, 4);
    const { sessionId } = await attacker.register({ name: 'attacker', target: 'http://127.0.0.1:1' });
    const forged = { kind: 'response' as const, status: 200, headers: ['content-type', 'text/plain'], appMs: 1 };
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => 'accepted',
        (error: Error) => error.message,
      );
    // Its own tunnel's path, the victim's id: the holder does not know the id for that tunnel.
    expect(await refusal(attacker.respond('attacker', sessionId, victimId, forged, Buffer.from('pwned'), { notAPoll: true }))).toMatch(
      /unknown_request|not waiting/,
    );
    // The victim's path with the attacker's session: refused as another session's request.
    expect(await refusal(attacker.respond('victim', sessionId, victimId, forged, Buffer.from('pwned'), { notAPoll: true }))).toMatch(
      /unknown_session|another session/,
    );
    // A group led by the victim's id, and one mixing a made-up id of this replica with it.
    const group = (ids: string[]) => ids.map((id) => ({ ...forged, id, bodyBytes: 5 }));
    expect(
      await refusal(attacker.respondToSeveral('attacker', sessionId, group([victimId]), Buffer.from('pwned'), { notAPoll: true })),
    ).toMatch(/unknown_session|another session/);
    const madeUp = `${victimId.slice(0, 8)}-0000-4000-8000-000000000000`;
    await refusal(
      attacker.respondToSeveral('attacker', sessionId, group([madeUp, victimId]), Buffer.from('pwnedpwned'), { notAPoll: true }),
    );
    await refusal(attacker.respondToSeveral('victim', sessionId, group([madeUp, victimId]), Buffer.from('pwnedpwned'), { notAPoll: true }));
    // The browser still gets the victim app's own answer.
    held[0].end('the real answer');
    const answer = await browser;
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('the real answer');
  });
});

describe('two clients racing for one name or one port on two replicas', () => {
  let cluster: Cluster;
  let app: LocalApp;
  const connections: ServerConnection[] = [];
  beforeAll(async () => {
    cluster = await startCluster(2);
    app = await startLocalApp(echoHandler());
  });
  afterAll(async () => {
    for (const connection of connections) await connection.close();
    await app?.close();
    await cluster?.stop();
  });

  it('gives a name to one of them only; the other gets 409 name_in_use', async () => {
    const [a, b] = cluster.replicas;
    for (let round = 0; round < 5; round++) {
      const contenders = [a, b].map((replica) => new ServerConnection(new URL(replica.mainUrl), null, 4));
      connections.push(...contenders);
      const results = await Promise.allSettled(
        contenders.map((connection) => connection.register({ name: `race-${round}`, target: 'http://127.0.0.1:1' })),
      );
      const won = results.filter((result) => result.status === 'fulfilled');
      const lost = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(String(lost[0].reason?.message)).toMatch(/name_in_use|in use|taken/i);
    }
  });

  it('never gives one tunnel port to two names', async () => {
    const [a, b] = cluster.replicas;
    const port = cluster.tunnelPorts.from + 5;
    const contenders = [a, b].map((replica) => new ServerConnection(new URL(replica.mainUrl), null, 4));
    connections.push(...contenders);
    const results = await Promise.allSettled(
      contenders.map((connection, index) => connection.register({ name: `port-${index}`, target: 'http://127.0.0.1:1', port })),
    );
    const ports = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value.port] : []));
    expect(ports.length).toBeGreaterThan(0);
    expect(new Set(ports).size).toBe(ports.length);
  });
});

/** Resident memory of a process, MiB (Linux). */
function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

describe('big and slow bodies through the hop', () => {
  let cluster: Cluster;
  let app: LocalApp;
  let client: ClientProcess | undefined;
  let appReading: () => void = () => undefined;
  let uploadReceived = 0;
  let streamClosed = false;
  let upgradeClosed = false;
  beforeAll(async () => {
    cluster = await startCluster(2);
    app = await startLocalApp((req, res) => {
      if (req.url === '/upload') {
        // Takes nothing until the test says so: the upload must stall all the way back to the browser.
        req.pause();
        appReading = () => req.resume();
        req.on('data', (chunk: Buffer) => (uploadReceived += chunk.length));
        req.on('end', () => res.end(String(uploadReceived)));
        return;
      }
      if (req.url === '/endless') {
        const block = Buffer.alloc(64 * 1024, 120);
        const write = () => {
          while (!res.destroyed && res.write(block));
          if (!res.destroyed) res.once('drain', write);
        };
        res.once('close', () => (streamClosed = true));
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        write();
        return;
      }
      res.end('ok');
    });
    app.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      socket.on('data', (chunk) => socket.write(chunk));
      socket.on('error', () => undefined);
      // The browser's leaving reaches the app as the end of its stream (Node's HTTP sockets are half-open).
      socket.once('end', () => {
        upgradeClosed = true;
        socket.end();
      });
    });
    client = await connectTo(cluster.replicas[1], app, 'bulk');
    await eventually(
      async () => (await httpRequest(`http://${cluster.replicas[0].address}:${client!.port}/`, { timeoutMs: 5_000 })).status === 200,
      10_000,
      100,
    );
  });
  afterAll(async () => {
    await client?.stop();
    await app?.close();
    await cluster?.stop();
  });

  it('holds back a 64 MiB upload the app does not read, without buffering it on either replica', async () => {
    const [a, b] = cluster.replicas;
    const before = { a: rssMiB(a.process.child.pid!), b: rssMiB(b.process.child.pid!) };
    const totalBytes = 64 * 1024 * 1024;
    let written = 0;
    const done = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: a.address,
          port: client!.port,
          path: '/upload',
          method: 'POST',
          headers: { 'content-length': String(totalBytes) },
          agent: false,
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      const block = Buffer.alloc(256 * 1024, 97);
      const write = () => {
        while (written < totalBytes) {
          written += block.length;
          if (!req.write(block)) return void req.once('drain', write);
        }
        req.end();
      };
      write();
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    // The app read nothing: what the browser could write is what socket buffers hold on the way.
    expect(written).toBeLessThan(totalBytes / 2);
    const stalled = { a: rssMiB(a.process.child.pid!), b: rssMiB(b.process.child.pid!) };
    if (process.env.SHOW_RSS) console.log('upload stalled', { written, before, stalled });
    appReading();
    const answer = await done;
    expect(answer.status).toBe(200);
    expect(Number(answer.text)).toBe(totalBytes);
    expect(stalled.a - before.a).toBeLessThan(40);
    expect(stalled.b - before.b).toBeLessThan(40);
  });

  it('stops the app when the browser leaves mid-download, and holds nothing back for a browser that does not read', async () => {
    const [a, b] = cluster.replicas;
    const before = { a: rssMiB(a.process.child.pid!), b: rssMiB(b.process.child.pid!) };
    const socket = await new Promise<net.Socket>((resolve) => {
      const req = http.get({ host: a.address, port: client!.port, path: '/endless', agent: false }, (res) => {
        // Reads nothing (a slow reader).
        res.pause();
        resolve(req.socket!);
      });
      req.on('error', () => undefined);
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const stalled = { a: rssMiB(a.process.child.pid!), b: rssMiB(b.process.child.pid!) };
    if (process.env.SHOW_RSS) console.log('download stalled', { before, stalled });
    expect(stalled.a - before.a).toBeLessThan(40);
    expect(stalled.b - before.b).toBeLessThan(40);
    expect(streamClosed).toBe(false);
    socket.destroy();
    await eventually(() => streamClosed, 10_000, 50);
  });

  it("closes the app's side of an upgraded connection relayed through the hop when the browser leaves", async () => {
    const [a, b] = cluster.replicas;
    // On the replica holding the client's polls (1 hop), then on the other (2 hops).
    for (const replica of [b, a]) {
      upgradeClosed = false;
      const socket = net.connect(client!.port, replica.address);
      socket.on('error', () => undefined);
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      socket.write('GET /ws HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      await eventually(() => received.startsWith('HTTP/1.1 101'), 10_000, 50);
      socket.write('ping through two replicas');
      await eventually(() => received.includes('ping through two replicas'), 10_000, 50);
      expect(upgradeClosed).toBe(false);
      socket.destroy();
      await eventually(() => upgradeClosed, 10_000, 50);
    }
  });
});
