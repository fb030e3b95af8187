/**
 * Replica mode (docs/replicas.md): what one replica learns from Redis late, and must not act on
 * too early. Real processes: redis-server, two `standin server --redis` replicas, the client's
 * own ServerConnection calling each replica directly.
 * - A client's next call after a registration can reach the other replica before the news of
 *   that registration (a Redis event) does. Here the replicas reach Redis through a TCP proxy
 *   that holds their event subscriptions while a test runs. Before the fix the poll was answered
 *   409 session_replaced (404 not_found for a new tunnel) and the real client ended its tunnel,
 *   as seen when every replica restarted at once under load.
 * - An answer can reach a replica whose directory lost, for a moment, the replica holding the
 *   request (every entry expires during a Redis outage). Before the fix the answer was dropped.
 * - After a Redis outage, until the replicas have announced their polls again, a replica did not
 *   know its client polls elsewhere and held a request for a poll that never came.
 */

import os from 'node:os';
import { ServerConnection } from '../client/session/server-connection';
import type { PollAnswer } from '../client/session/server-connection';
import { FreezeProxy } from './helpers/freeze-proxy';
import { eventually, httpRequest } from './helpers/http';
import { RedisServer } from './helpers/redis-server';
import { ReplicaCluster } from './helpers/replica-cluster';

jest.setTimeout(60_000);

describe('news of registrations and replicas, held up', () => {
  let redis: RedisServer;
  let redisLink: FreezeProxy;
  let cluster: ReplicaCluster;
  const connections: ServerConnection[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    redisLink = await new FreezeProxy(redis.port).start();
    // A short poll timeout: a held poll comes back `idle` within the test.
    cluster = await ReplicaCluster.start({
      replicas: 2,
      redisUrl: `redis://127.0.0.1:${redisLink.port}`,
      serverArgs: ['--poll-timeout', '1s'],
    });
  });

  afterAll(async () => {
    await Promise.all(connections.map((connection) => connection.close()));
    await cluster?.close();
    await redisLink?.close();
    await redis?.close();
  });

  /** The client's connection to one replica, directly (not through nginx). */
  function connectTo(index: number): ServerConnection {
    const connection = new ServerConnection(new URL(cluster.replicas[index].url), null, 4);
    connections.push(connection);
    return connection;
  }

  /** Runs `during` while the replicas' event subscriptions are held, so no news of a registration arrives. */
  async function withoutEvents<T>(during: () => Promise<T>): Promise<T> {
    redisLink.freezeConnectionsThatSent(/SUBSCRIBE/i);
    try {
      return await during();
    } finally {
      redisLink.thaw();
    }
  }

  test('a new tunnel: its first poll, on the other replica, is held as a poll', async () => {
    const [a, b] = [connectTo(0), connectTo(1)];
    const answer = await withoutEvents(async () => {
      const registered = await a.register({ name: 'fresh', target: 'http://127.0.0.1:1' });
      return b.poll('fresh', registered.sessionId);
    });
    expect(answer).toEqual({ kind: 'idle' });
  });

  test('a re-registration (a reconnect): the new session polls the other replica, the old one is told it was replaced', async () => {
    const [a, b] = [connectTo(0), connectTo(1)];
    const first = await a.register({ name: 'again', target: 'http://127.0.0.1:1' });
    // b has loaded the first session by now (the event, or the re-read).
    await expect(b.poll('again', first.sessionId)).resolves.toEqual({ kind: 'idle' });
    const [answer, oldAnswer] = await withoutEvents(async () => {
      // As the client does when it reconnects: with the claim key its first registration got.
      const second = await a.register({ name: 'again', target: 'http://127.0.0.1:1', claimKey: first.claimKey });
      expect(second.sessionId).not.toBe(first.sessionId);
      return Promise.all([
        b.poll('again', second.sessionId),
        b.poll('again', first.sessionId).then(String, (error: Error) => error.message),
      ]);
    });
    expect(answer).toEqual({ kind: 'idle' });
    // Which words depends on whether the old poll arrived before or after the news of the new session.
    expect(oldAnswer).toMatch(/another client registered it|registered again/);
  });

  test('releasing a new session on the other replica releases the tunnel', async () => {
    const [a, b] = [connectTo(0), connectTo(1)];
    await withoutEvents(async () => {
      const registered = await a.register({ name: 'short-lived', target: 'http://127.0.0.1:1' });
      await b.release('short-lived', registered.sessionId);
    });
    // The stop is written in the background after the answer.
    await eventually(async () => (await redis.command('HEXISTS standin:tunnel:short-lived stop')) === ':1', 5_000, 50);
  });

  test('an answer reaching a replica whose directory lost the replica holding the request for a moment still arrives', async () => {
    const [a, b] = [connectTo(0), connectTo(1)];
    const { sessionId } = await a.register({ name: 'answers', target: 'http://127.0.0.1:1' });
    const polled = a.poll('answers', sessionId);
    // The browser's request reaches a (selector mode on a's main port) and goes down that poll.
    const browser = httpRequest(`${cluster.replicas[0].url}/hello`, { headers: { 'x-standin-tunnel': 'answers' }, timeoutMs: 10_000 });
    const handed = await polled;
    if (handed.kind !== 'request') throw new Error(`expected a request, got ${handed.kind}`);
    handed.body.resume();
    // a's directory entry goes missing (as after a Redis outage) until b has read the directory without it.
    const aEntry = `${os.hostname()}-${handed.meta.id.slice(0, 8)}`;
    let deleting = true;
    const deleter = (async () => {
      for (let round = 0; deleting && round < 1_000; round++) {
        await redis.command(`DEL standin:replica:${aEntry}`);
        await redis.command(`SREM standin:replicas ${aEntry}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    try {
      // b reads the directory every second.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const answered = b.respond(
        'answers',
        sessionId,
        handed.meta.id,
        { kind: 'response', status: 200, headers: ['content-type', 'text/plain'], appMs: 1 },
        Buffer.from('from the laptop'),
        { notAPoll: true },
      );
      // Once the answer is there, a writes its entry again within a heartbeat.
      await new Promise((resolve) => setTimeout(resolve, 100));
      deleting = false;
      await answered;
    } finally {
      deleting = false;
      await deleter;
    }
    const response = await browser;
    expect({ status: response.status, body: response.text }).toEqual({ status: 200, body: 'from the laptop' });
  });

  test('calls with made-up sessions during a re-registration do not make it answer with the previous session', async () => {
    // Each such call makes the replica read the tunnel from Redis, which still holds the
    // previous session until the registration has written the new one.
    const [a, flood] = [connectTo(0), connectTo(0)];
    let registered = await a.register({ name: 'contested', target: 'http://127.0.0.1:1' });
    const { claimKey } = registered;
    let flooding = true;
    const flooders = Array.from({ length: 8 }, async (_, lane) => {
      for (let call = 0; flooding && call < 100_000; call++)
        await flood.poll('contested', `made-up-${lane}-${call}`).catch(() => undefined);
    });
    const refused: string[] = [];
    try {
      for (let round = 0; round < 12; round++) {
        registered = await a.register({ name: 'contested', target: 'http://127.0.0.1:1', claimKey });
        // The session just handed out is the current one: its poll is held (idle after 1 s), not refused.
        await a.poll('contested', registered.sessionId).catch((error: Error) => refused.push(`round ${round}: ${error.message}`));
      }
    } finally {
      flooding = false;
      await Promise.all(flooders);
    }
    expect(refused).toEqual([]);
  });

  test('a call with a made-up session, after Redis lost its data, does not end a live tunnel', async () => {
    const a = connectTo(0);
    const { sessionId } = await a.register({ name: 'survivor', target: 'http://127.0.0.1:1' });
    const held = a.poll('survivor', sessionId).then(
      (answer) => answer.kind,
      (error: Error) => error.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await redis.command('FLUSHALL')).toBe('+OK');
    await expect(a.poll('survivor', 'made-up-session')).rejects.toThrow(/another client registered it/);
    expect(await held).toBe('idle');
    await expect(a.poll('survivor', sessionId)).resolves.toEqual({ kind: 'idle' });
    // The periodic re-read writes the live tunnel back.
    await eventually(async () => (await redis.command('HEXISTS standin:tunnel:survivor session')) === ':1', 10_000, 100);
  });
});

describe('after a Redis outage, before the replicas have announced their polls again', () => {
  let redis: RedisServer;
  let cluster: ReplicaCluster;
  const connections: ServerConnection[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    // The default poll timeout: replica a still counts the client as connected from its poll a while ago.
    cluster = await ReplicaCluster.start({ replicas: 2, redisUrl: redis.url, serverArgs: ['--request-timeout', '8s'] });
  });

  afterAll(async () => {
    for (const replica of cluster?.replicas ?? []) replica.process?.child.kill('SIGCONT');
    await Promise.all(connections.map((connection) => connection.close()));
    await cluster?.close();
    await redis?.close();
  });

  test('a request for a client that now polls only the other replica is answered at once, not held for a poll', async () => {
    const a = new ServerConnection(new URL(cluster.replicas[0].url), null, 4);
    const b = new ServerConnection(new URL(cluster.replicas[1].url), null, 4);
    connections.push(a, b);
    const { sessionId } = await a.register({ name: 'moved', target: 'http://127.0.0.1:1' });
    const viaA = (timeoutMs: number) =>
      httpRequest(`${cluster.replicas[0].url}/here`, { headers: { 'x-standin-tunnel': 'moved' }, timeoutMs });
    const answer = async (polled: Promise<PollAnswer>, body: string) => {
      const handed = await polled;
      if (handed.kind !== 'request') throw new Error(`expected a request, got ${handed.kind}`);
      handed.body.resume();
      const meta = { kind: 'response' as const, status: 200, headers: ['content-type', 'text/plain'], appMs: 1 };
      await a.respond('moved', sessionId, handed.meta.id, meta, Buffer.from(body), { notAPoll: true });
    };
    // The client polls a once (a request goes down that poll), then only b.
    const first = viaA(5_000);
    await answer(a.poll('moved', sessionId), 'first');
    expect((await first).text).toBe('first');
    const heldOnB = b.poll('moved', sessionId);
    await new Promise((resolve) => setTimeout(resolve, 2_500));

    // Redis goes away for 3 s; b (holding the poll) comes back late, so a does not see b's poll.
    const holder = cluster.replicas[1].process!.child;
    holder.kill('SIGSTOP');
    try {
      await redis.stopFor(3_000);
      // a has reconnected once it takes a registration (b's presence has expired by then), and
      // it reads the others' presence within 200 ms more.
      await eventually(
        () =>
          a.register({ name: 'proof-of-redis', target: 'http://127.0.0.1:1' }).then(
            () => true,
            () => false,
          ),
        5_000,
        100,
      );
      await new Promise((resolve) => setTimeout(resolve, 400));
      const startedAt = Date.now();
      const response = await viaA(10_000);
      expect({ status: response.status, code: response.headers['x-standin-error'] }).toEqual({ status: 503, code: 'tunnel_offline' });
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    } finally {
      holder.kill('SIGCONT');
    }
    // Once b has announced its poll again, a request to a goes down it.
    let servedFromB = false;
    await eventually(
      async () => {
        const response = viaA(5_000);
        const first = await Promise.race([response.then(() => 'answered' as const), heldOnB.then(() => 'handed' as const)]);
        if (first === 'answered') return false;
        await answer(heldOnB, 'from b');
        servedFromB = (await response).text === 'from b';
        return true;
      },
      10_000,
      200,
    );
    expect(servedFromB).toBe(true);
  });
});
