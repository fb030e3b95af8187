/**
 * Several server replicas sharing one real redis-server, behind a real nginx that spreads every
 * port round-robin over them (standing in for a Service and an ingress), with real clients and
 * apps: routing in both modes whichever replica each side lands on, a rolling restart and a
 * SIGKILL under steady load, a restart of every replica at once, and a Redis outage.
 *
 * The first block checks the harness itself (redis-server, the loopback addresses, nginx's
 * round-robin and retries, restart and kill) with independent in-memory servers.
 */

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { eventually, httpRequest, type TestResponse } from './helpers/http';
import { sendFiveEvents, startLocalApp, type LocalApp } from './helpers/local-app';
import { spawnStandin, startClientProcess, type ClientProcess } from './helpers/processes';
import { RedisServer } from './helpers/redis-server';
import { ReplicaCluster, type RestartTiming } from './helpers/replica-cluster';
import { SteadyLoad, summarize, type LoadResult, type LoadTarget } from './helpers/steady-load';
import { nextMessage, openWebSocket } from './helpers/websocket';

jest.setTimeout(60_000);
// Failures seen here and fixed, each with a test of its own: requests handed to an upgraded
// connection's POST held as a poll (below), and, in replica-late-news.test.ts, a client ended by a
// poll that reached a replica before the news of its registration, an answer dropped while the
// directory lacked its holder, and requests held for a poll that never came after a Redis outage.
// One is still open (docs/replicas.md "Known issue"): about one answer in 1,600 lost during a
// rolling restart. So a failed test runs once more, and its failures stay in the output.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the replica test harness', () => {
  test('redis-server answers, and comes back on the same port after an outage, with or without its data', async () => {
    const redis = await RedisServer.start();
    try {
      expect(await redis.command('SET standin-key kept')).toBe('+OK');
      const outage = redis.stopFor(1_000);
      try {
        // Down once the process has exited: SHUTDOWN SAVE writes its snapshot first, and until then
        // a connection is accepted and reset (seen on a loaded machine 100 ms after the SHUTDOWN).
        await eventually(
          async () =>
            /ECONNREFUSED/.test(
              await redis.command('PING').then(
                () => 'up',
                (error: Error) => error.message,
              ),
            ),
          5_000,
          20,
        );
      } finally {
        // Awaited even when the check failed: a restart left pending would outlive the test.
        await outage;
      }
      expect(await redis.command('EXISTS standin-key')).toBe(':1');
      await redis.stopFor(100, { keepData: false });
      expect(await redis.command('EXISTS standin-key')).toBe(':0');
    } finally {
      await redis.close();
    }
  });

  describe('three in-memory servers on 127.0.0.2-4 behind nginx', () => {
    let cluster: ReplicaCluster;
    let app: LocalApp;
    let client: ClientProcess | undefined;

    beforeAll(async () => {
      app = await startLocalApp((_req, res) => res.end('laptop'));
      cluster = await ReplicaCluster.start({ replicas: 3 });
    });

    afterAll(async () => {
      await client?.stop('SIGINT');
      await cluster?.close();
      await app?.close();
    });

    /** Which replica's main port served each of `count` requests through nginx. */
    async function mainPortUpstreams(count: number): Promise<string[]> {
      const upstreams: string[] = [];
      for (let i = 0; i < count; i++) {
        const response = await httpRequest(`${cluster.url}/_standin/healthz`);
        expect(response.status).toBe(200);
        upstreams.push(servedBy(response));
      }
      return upstreams;
    }

    test('spreads the main port round-robin over the replicas, each on its own address', async () => {
      const upstreams = await mainPortUpstreams(9);
      const addresses = cluster.replicas.map((replica) => `${replica.address}:${cluster.mainPort}`);
      expect(countBy(upstreams)).toEqual(Object.fromEntries(addresses.map((address) => [address, 3])));
    });

    test('sends a tunnel port to the one replica that listens on it, past the refused ones', async () => {
      const holder = cluster.replicas[1];
      client = await startClientProcess(String(app.port), holder.url, ['--no-inspect']);
      for (let i = 0; i < 6; i++) {
        const response = await httpRequest(`${cluster.tunnelUrl(client.port)}/`);
        expect({ status: response.status, body: response.text, servedBy: servedBy(response) }).toEqual({
          status: 200,
          body: 'laptop',
          servedBy: `${holder.address}:${client.port}`,
        });
      }
    });

    test('routes around a killed replica and back to it once it is started again', async () => {
      const victim = cluster.replicas[0];
      await cluster.kill(0);
      expect(victim.running).toBe(false);
      expect(await mainPortUpstreams(6)).not.toContain(`${victim.address}:${cluster.mainPort}`);
      await cluster.start(0);
      expect(await mainPortUpstreams(6)).toContain(`${victim.address}:${cluster.mainPort}`);
    });

    test('restarts a replica with SIGTERM: it drains, exits 0 and serves again on the same address', async () => {
      const timing = await cluster.restart(2);
      expect(timing.exitCode).toBe(0);
      expect(await mainPortUpstreams(6)).toContain(`${cluster.replicas[2].address}:${cluster.mainPort}`);
    });
  });
});

const TOKEN = 'replicas-shared-token';
const LAPTOP_COUNT = 5;
/** Browser requests per second to each loaded tunnel while replicas restart or die. */
const REQUESTS_PER_SECOND_PER_TUNNEL = 50;
/**
 * How many of the laptops get that load (the others are checked for port and name). Each request
 * costs about 6 ms of CPU over nginx, two replicas and a client (npm run bench, standin-replicas),
 * so 5 x 50/s would need more than the two cores CI has; 2 x 50/s leaves room for the restarts.
 */
const LOADED_LAPTOPS = 2;
const UPLOAD_BYTES = 20 * 1024 * 1024;
/** Slower than this during the SIGKILL test counts as "not served yet" (well above a loaded CI machine's hiccups). */
const NORMAL_LATENCY_MS = 2_000;
/**
 * SIGKILL is delivered a moment after kill() returns, and until the kernel closes its sockets a
 * dying replica can still accept a request or be handed one from Redis: requests started this
 * soon after the kill may have been held by it.
 */
const KILL_MARGIN_MS = 100;

/** A developer's laptop: a local app that says whose it is, and a client connected through nginx. */
interface Laptop {
  name: string;
  app: LocalApp;
  client: ClientProcess;
  /** What GET /whoami answers. */
  identity: string;
}

/** The API's view of a tunnel, as far as these tests read it. */
interface TunnelView {
  name: string;
  port: number | null;
  state: string;
  createdAt: string;
  expiresAt: string;
  health: { history: Array<{ at: string; ok: boolean }> };
}

describe('three replicas sharing Redis behind a round-robin nginx, five laptops', () => {
  let redis: RedisServer;
  let cluster: ReplicaCluster;
  /** The in-cluster app: --fallback for main-port traffic without a selected (or an offline) tunnel. */
  let clusterApp: LocalApp;
  const laptops: Laptop[] = [];
  /** The load of the running test, stopped after it even when the test failed or timed out. */
  let load: SteadyLoad | undefined;

  beforeAll(async () => {
    redis = await RedisServer.start();
    clusterApp = await startLocalApp((_req, res) => res.end('cluster'));
    cluster = await ReplicaCluster.start({
      replicas: 3,
      redisUrl: redis.url,
      // One spare port beyond the laptops', for the newcomer in the restart-all test.
      tunnelPortCount: LAPTOP_COUNT + 2,
      serverArgs: ['--token', TOKEN, '--fallback', clusterApp.url, '--health-interval', '1s'],
    });
    for (let i = 0; i < LAPTOP_COUNT; i++) laptops.push(await startLaptop(i));
  });

  afterEach(async () => {
    await load?.stop();
    load = undefined;
    // The next test starts with every replica up, even when this one failed with one down.
    await cluster.startAll();
  });

  afterAll(async () => {
    await Promise.all(laptops.map((laptop) => laptop.client.stop('SIGINT')));
    await cluster?.close();
    await redis?.close();
    await Promise.all([clusterApp?.close(), ...laptops.map((laptop) => laptop.app.close())]);
  });

  async function startLaptop(index: number): Promise<Laptop> {
    const name = `dev${index}`;
    const identity = `laptop-${index}`;
    const app = await startLocalApp(laptopHandler(identity));
    const sockets = new WebSocketServer({ server: app.server });
    sockets.on('connection', (ws) => ws.on('message', (data) => ws.send(`${identity}:${(data as Buffer).toString('utf8')}`)));
    const client = await startClientProcess(String(app.port), cluster.url, ['--name', name, '--no-inspect', '--max-reconnect-delay', '1'], {
      env: { STANDIN_TOKEN: TOKEN },
    });
    return { name, app, client, identity };
  }

  /** GET /whoami on the laptop's own port (port mode). */
  function viaPort(laptop: Laptop, headers: http.OutgoingHttpHeaders = {}): Promise<TestResponse> {
    return httpRequest(`${cluster.tunnelUrl(laptop.client.port)}/whoami`, { headers, timeoutMs: 10_000 });
  }

  /** GET /whoami on the main port with a selector (selector mode). */
  function viaSelector(laptop: Laptop, by: 'header' | 'cookie' | 'host' = 'header'): Promise<TestResponse> {
    const headers: http.OutgoingHttpHeaders =
      by === 'header'
        ? { 'x-standin-tunnel': laptop.name }
        : by === 'cookie'
          ? { cookie: `standin-tunnel=${laptop.name}` }
          : { host: `${laptop.name}.shop.example.test` };
    return httpRequest(`${cluster.url}/whoami`, { headers, timeoutMs: 10_000 });
  }

  /**
   * Waits until every laptop answers in both modes (and, with `replicasReady`, every replica's
   * readyz is 200); on timeout the error lists what did not, and what it got.
   */
  async function untilEveryLaptopServes(timeoutMs: number, options: { replicasReady?: boolean } = {}): Promise<void> {
    let notYet: string[] = [];
    try {
      await eventually(
        async () => {
          const checks = laptops.flatMap((laptop) =>
            (['port', 'selector'] as const).map(async (mode) => {
              const got = await answerOf(mode === 'port' ? viaPort(laptop) : viaSelector(laptop));
              return got.body === laptop.identity ? '' : `${laptop.name} ${mode}: ${got.status} ${got.code ?? got.body}`;
            }),
          );
          if (options.replicasReady)
            for (const replica of cluster.replicas)
              checks.push(
                httpRequest(`${replica.url}/_standin/readyz`, { timeoutMs: 2_000 }).then(
                  (response) => (response.status === 200 ? '' : `replica ${replica.index} readyz ${response.status}`),
                  (error: Error) => `replica ${replica.index} readyz: ${error.message}`,
                ),
              );
          notYet = (await Promise.all(checks)).filter(Boolean);
          return notYet.length === 0;
        },
        timeoutMs,
        200,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; not yet: ${notYet.join('; ')}`);
    }
  }

  async function tunnelView(name: string): Promise<TunnelView> {
    const response = await httpRequest(`${cluster.url}/_standin/api/tunnels/${name}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect({ name, status: response.status }).toEqual({ name, status: 200 });
    return JSON.parse(response.text) as TunnelView;
  }

  /** Port mode and selector mode for every laptop, alternating, at REQUESTS_PER_SECOND_PER_TUNNEL each. */
  function loadOnEveryTunnel(): SteadyLoad {
    const targets: LoadTarget[] = laptops.slice(0, LOADED_LAPTOPS).flatMap((laptop) => [
      { label: `${laptop.name} port`, url: `${cluster.tunnelUrl(laptop.client.port)}/whoami`, expectedBody: laptop.identity },
      {
        label: `${laptop.name} selector`,
        url: `${cluster.url}/whoami`,
        headers: { 'x-standin-tunnel': laptop.name },
        expectedBody: laptop.identity,
      },
    ]);
    load = new SteadyLoad(targets, REQUESTS_PER_SECOND_PER_TUNNEL / 2);
    return load;
  }

  /** Prints what the replicas and clients logged about the first failed requests (a failure on CI is then explained in its log). */
  function explainFailures(results: LoadResult[]): void {
    const failed = results.filter((result) => !result.ok).slice(0, 5);
    if (failed.length === 0) return;
    const logs = [
      ...cluster.replicas.flatMap((replica) =>
        replica.processes.map((process, run) => ({ who: `replica ${replica.address} run ${run}`, lines: process.lines })),
      ),
      ...laptops.map((laptop) => ({ who: `client ${laptop.name}`, lines: laptop.client.lines })),
    ];
    for (const result of failed) {
      const seen = logs.flatMap(({ who, lines }) =>
        lines.filter((line) => line.xRequestId === result.requestId).map((line) => `${who}: ${JSON.stringify(line)}`),
      );
      console.log(`failed ${JSON.stringify(result)}\n  ${seen.join('\n  ') || 'in no log'}`);
    }
  }

  /** Every laptop's client still runs, kept its name and never changed port. */
  function expectTunnelsKeptPortAndName(ports: Map<string, number>): void {
    for (const laptop of laptops) {
      expect({ name: laptop.name, exitCode: laptop.client.child.exitCode }).toEqual({ name: laptop.name, exitCode: null });
      const announced = laptop.client.lines
        .filter((line) => line.message === 'tunnel ready' || line.message === 'reconnected')
        .map((line) => `${String(line.tunnel)}:${String(line.port)}`);
      expect(new Set(announced)).toEqual(new Set([`${laptop.name}:${ports.get(laptop.name)}`]));
      expect(laptop.client.lines.filter((line) => line.message === 'tunnel port changed')).toEqual([]);
    }
  }

  function portsNow(): Map<string, number> {
    return new Map(laptops.map((laptop) => [laptop.name, laptop.client.port]));
  }

  test('every request reaches the right laptop in port mode and in selector mode, on whichever replica it lands', async () => {
    const upstreams = new Set<string>();
    for (const laptop of laptops) {
      for (let i = 0; i < 6; i++) {
        const response = await viaPort(laptop);
        expect({ laptop: laptop.name, status: response.status, body: response.text }).toEqual({
          laptop: laptop.name,
          status: 200,
          body: laptop.identity,
        });
        upstreams.add(servedBy(response));
      }
      for (const by of ['header', 'cookie', 'host'] as const) {
        for (let i = 0; i < 3; i++) {
          const response = await viaSelector(laptop, by);
          expect({ laptop: laptop.name, by, status: response.status, body: response.text }).toEqual({
            laptop: laptop.name,
            by,
            status: 200,
            body: laptop.identity,
          });
        }
      }
    }
    // nginx spread the browser requests over all three replicas.
    expect(new Set([...upstreams].map((upstream) => upstream.split(':')[0])).size).toBe(cluster.replicas.length);
    const unselected = await httpRequest(`${cluster.url}/whoami`);
    expect({ status: unselected.status, body: unselected.text }).toEqual({ status: 200, body: 'cluster' });
  });

  test('a 20 MiB upload reaches the right laptop whole, in port mode and in selector mode', async () => {
    const body = crypto.randomBytes(UPLOAD_BYTES);
    const digest = crypto.createHash('sha256').update(body).digest('hex');
    const [first, second] = [laptops[0], laptops[1]];
    const viaPortMode = await httpRequest(`${cluster.tunnelUrl(first.client.port)}/upload`, { method: 'POST', body, timeoutMs: 30_000 });
    expect({ status: viaPortMode.status, body: viaPortMode.text }).toEqual({
      status: 200,
      body: `${first.identity} ${UPLOAD_BYTES} ${digest}`,
    });
    const viaSelectorMode = await httpRequest(`${cluster.url}/upload`, {
      method: 'POST',
      body,
      headers: { 'x-standin-tunnel': second.name },
      timeoutMs: 30_000,
    });
    expect({ status: viaSelectorMode.status, body: viaSelectorMode.text }).toEqual({
      status: 200,
      body: `${second.identity} ${UPLOAD_BYTES} ${digest}`,
    });
  });

  test('server-sent events reach the browser one by one', async () => {
    const arrivals = await readEvents(`${cluster.tunnelUrl(laptops[2].client.port)}/events`);
    expect(arrivals.map((arrival) => arrival.event)).toEqual(['data: 0', 'data: 1', 'data: 2', 'data: 3', 'data: 4']);
    // The app writes one every 150 ms; buffered, they would arrive together at the end.
    expect(arrivals[4].atMs - arrivals[0].atMs).toBeGreaterThan(400);
  });

  test('a WebSocket per laptop carries messages both ways, in port mode and in selector mode', async () => {
    // Six sockets over three replicas: the browser's side and the client's side of most of
    // them land on different replicas.
    const sockets = [
      ...(await Promise.all(
        laptops.map(async (laptop) => ({ laptop, ws: await openWebSocket(`ws://127.0.0.1:${laptop.client.port}/ws`) })),
      )),
      {
        laptop: laptops[3],
        ws: await openWebSocket(`ws://127.0.0.1:${cluster.mainPort}/ws`, undefined, { 'x-standin-tunnel': laptops[3].name }),
      },
    ];
    try {
      for (const { laptop, ws } of sockets) {
        for (const message of ['one', 'two']) {
          ws.send(message);
          expect(await nextMessage(ws)).toBe(`${laptop.identity}:${message}`);
        }
      }
    } finally {
      for (const { ws } of sockets) ws.close();
    }
  });

  test("after those WebSockets close, the next requests are all answered (an upgraded connection's POST is never held as a poll)", async () => {
    // The POST that carried an upgraded connection's app → browser bytes may land on a replica
    // other than the holder, which passes it on. When the holder answered 204 at its end, the
    // passing replica held the POST as the client's next poll, but the client reads that answer
    // only for its status: requests handed to it were lost until their timeout.
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => laptops[i % 4]).map((laptop) =>
        httpRequest(`${cluster.tunnelUrl(laptop.client.port)}/whoami`, { timeoutMs: 5_000 }).then(
          (response) => `${response.status} ${response.text === laptop.identity ? 'right laptop' : response.text}`,
          (error: Error) => error.message,
        ),
      ),
    );
    expect(answers.filter((answer) => answer !== '200 right laptop')).toEqual([]);
  });

  test('a rolling restart of all three replicas under steady load fails no browser request; tunnels keep port and name', async () => {
    const ports = portsNow();
    const traffic = loadOnEveryTunnel();
    const startedAt = Date.now();
    traffic.start();
    await sleep(1_000);
    const timings: RestartTiming[] = [];
    for (const replica of cluster.replicas) {
      timings.push(await cluster.restart(replica.index));
      await sleep(1_000);
    }
    const results = await traffic.stop();
    const seconds = (Date.now() - startedAt) / 1000;
    const summary = summarize(results);
    console.log(
      `rolling restart: ${summary.total} requests in ${seconds.toFixed(1)} s (${LOADED_LAPTOPS} tunnels x ${REQUESTS_PER_SECOND_PER_TUNNEL}/s), ${summary.failed} failed, p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms, max ${summary.maxMs} ms; restarts (drain + start, ms): ${timings.map((timing) => `${timing.stopMs}+${timing.startMs}`).join(', ')}`,
    );

    expect(timings.map((timing) => timing.exitCode)).toEqual(cluster.replicas.map(() => 0));
    explainFailures(results);
    expect(results.filter((result) => !result.ok).slice(0, 10)).toEqual([]);
    // The load was steady: close to the rate asked for, all the way through.
    expect(summary.total).toBeGreaterThan(0.8 * LOADED_LAPTOPS * REQUESTS_PER_SECOND_PER_TUNNEL * (seconds - 1));
    expectTunnelsKeptPortAndName(ports);
    for (const laptop of laptops) {
      const view = await tunnelView(laptop.name);
      expect({ name: view.name, port: view.port, state: view.state }).toEqual({
        name: laptop.name,
        port: ports.get(laptop.name),
        state: 'active',
      });
    }
  });

  test('SIGKILL of one replica under load fails only the requests it held; every tunnel serves again within 5 s', async () => {
    const ports = portsNow();
    const traffic = loadOnEveryTunnel();
    traffic.start();
    await sleep(1_000);
    const killedAt = Date.now();
    await cluster.kill(1);
    const heldUntil = killedAt + KILL_MARGIN_MS;
    await sleep(6_000);
    const results = await traffic.stop();
    await cluster.start(1);

    const failed = results.filter((result) => !result.ok);
    const recoveryMs = recoveryAfter(results, heldUntil, killedAt);
    const summary = summarize(results);
    console.log(
      `SIGKILL: ${summary.total} requests, ${failed.length} failed (all in flight at the kill: ${failed.every((result) => result.startedAt < heldUntil)}), p99 ${summary.p99Ms} ms; serving again after (ms): ${[...recoveryMs].map(([label, ms]) => `${label} ${ms}`).join(', ')}; worst ${Math.max(...recoveryMs.values())} ms`,
    );

    // Only requests in flight when it died can have been held by it.
    expect(failed.filter((result) => result.startedAt >= heldUntil)).toEqual([]);
    expect([...recoveryMs].filter(([, ms]) => ms > 5_000)).toEqual([]);
    expectTunnelsKeptPortAndName(ports);
  });

  test('after every replica restarts at once, tunnels, claims, ports, TTLs and health history are back', async () => {
    const ports = portsNow();
    // --health-interval 1s fills the history; a replica without the health lease reads it back
    // from Redis every 5 s, and the status API may answer from any replica.
    await eventually(async () => (await tunnelView(laptops[0].name)).health.history.length > 0, 15_000, 200);
    const before = new Map<string, TunnelView>();
    for (const laptop of laptops) before.set(laptop.name, await tunnelView(laptop.name));

    await cluster.stopAll();
    await cluster.startAll();
    // The issue sets no bound here: what must come back is the state. Clients whose server went
    // away reconnect with backoff while the replicas start, which took up to 20 s on a busy machine.
    await untilEveryLaptopServes(30_000);

    for (const laptop of laptops) {
      const was = before.get(laptop.name)!;
      const now = await tunnelView(laptop.name);
      expect({ name: now.name, port: now.port, createdAt: now.createdAt, expiresAt: now.expiresAt }).toEqual({
        name: was.name,
        port: was.port,
        createdAt: was.createdAt,
        expiresAt: was.expiresAt,
      });
      const historyNow = new Set(now.health.history.map((check) => check.at));
      expect(was.health.history.map((check) => check.at).filter((at) => !historyNow.has(at))).toEqual([]);
    }
    expectTunnelsKeptPortAndName(ports);

    // The claim survived: another developer with the shared token cannot take dev0.
    const intruder = spawnStandin(
      ['connect', String(laptops[0].app.port), '--server', cluster.url, '--name', laptops[0].name, '--no-inspect'],
      { HOME: freshHome(), STANDIN_TOKEN: TOKEN },
    );
    expect(await intruder.exitedWithin(15_000)).toBe(2);
    expect(intruder.lines.map((line) => JSON.stringify(line)).join('\n') + intruder.stderr.join('')).toContain('name_in_use');
    // The port reservation survived: a newcomer asking for dev0's port gets another one.
    const newcomer = await startClientProcess(
      String(clusterApp.port),
      cluster.url,
      ['--name', 'newcomer', '--port', String(ports.get(laptops[0].name)), '--no-inspect'],
      { env: { STANDIN_TOKEN: TOKEN } },
    );
    try {
      expect(newcomer.port).not.toBe(ports.get(laptops[0].name));
      expect([...ports.values()]).not.toContain(newcomer.port);
    } finally {
      await newcomer.stop('SIGINT');
    }
  });

  test('with Redis gone for 10 s: readyz 503 after 5 s, traffic to the fallback or 503 tunnel_offline; all recovers without restarts', async () => {
    const ports = portsNow();
    const pids = cluster.replicas.map((replica) => replica.process?.child.pid);
    const [portLaptop, selectorLaptop] = [laptops[0], laptops[1]];
    const outageMs = 10_000;
    const stoppedAt = Date.now();
    const outage = redis.stopFor(outageMs);

    const probes: Array<{ atMs: number; readyz: number[]; portMode: Answer; selectorMode: Answer }> = [];
    while (Date.now() - stoppedAt < outageMs - 500) {
      const atMs = Date.now() - stoppedAt;
      const [readyz, portMode, selectorMode] = await Promise.all([
        Promise.all(
          cluster.replicas.map((replica) =>
            httpRequest(`${replica.url}/_standin/readyz`, { timeoutMs: 3_000 }).then(
              (response) => response.status,
              () => 0,
            ),
          ),
        ),
        answerOf(viaPort(portLaptop)),
        answerOf(viaSelector(selectorLaptop)),
      ]);
      probes.push({ atMs, readyz, portMode, selectorMode });
      await sleep(500);
    }
    await outage;
    const restartedAt = Date.now();

    console.log(
      `Redis outage probes (ms after stop: readyz, port mode, selector mode):\n${probes.map((probe) => `  ${probe.atMs}: ${probe.readyz.join('/')}, ${probe.portMode.status} ${probe.portMode.code ?? probe.portMode.body}, ${probe.selectorMode.status} ${probe.selectorMode.code ?? probe.selectorMode.body}`).join('\n')}`,
    );
    // Every request got an answer, and only one the contract allows.
    for (const probe of probes) {
      expect([`${portLaptop.identity}`, 'tunnel_offline']).toContain(probe.portMode.code ?? probe.portMode.body);
      expect([`${selectorLaptop.identity}`, 'cluster']).toContain(probe.selectorMode.code ?? probe.selectorMode.body);
    }
    // A short blip does not take every replica out of the Service...
    for (const probe of probes.filter((probe) => probe.atMs < 4_000)) expect(probe.readyz).toEqual(cluster.replicas.map(() => 200));
    // ...a longer outage does, and traffic goes where the contract says.
    const late = probes.filter((probe) => probe.atMs > 6_500);
    expect(late.length).toBeGreaterThan(0);
    for (const probe of late) {
      expect(probe.readyz).toEqual(cluster.replicas.map(() => 503));
      expect({ status: probe.portMode.status, code: probe.portMode.code }).toEqual({ status: 503, code: 'tunnel_offline' });
      expect({ status: probe.selectorMode.status, body: probe.selectorMode.body }).toEqual({ status: 200, body: 'cluster' });
    }

    // Back by itself: ready, every tunnel serving on its port, with no process restarted.
    await untilEveryLaptopServes(15_000, { replicasReady: true });
    console.log(`Redis outage: everything served again ${Date.now() - restartedAt} ms after Redis came back`);
    expect(cluster.replicas.map((replica) => replica.process?.child.pid)).toEqual(pids);
    expectTunnelsKeptPortAndName(ports);
  });
});

/** What a probe got: the status, X-Standin-Error if any, and the body. */
interface Answer {
  status: number;
  code?: string;
  body: string;
}

async function answerOf(request: Promise<TestResponse>): Promise<Answer> {
  try {
    const response = await request;
    const code = response.headers['x-standin-error'];
    return { status: response.status, ...(typeof code === 'string' ? { code } : {}), body: response.text.slice(0, 80) };
  } catch (error) {
    return { status: 0, code: `no answer: ${(error as Error).message}`, body: '' };
  }
}

/**
 * For each load target, how long after `eventAt` it served normally again: the end of the last
 * request started from `from` on that failed or took longer than NORMAL_LATENCY_MS (0 if none).
 */
function recoveryAfter(results: readonly LoadResult[], from: number, eventAt: number): Map<string, number> {
  const recovery = new Map<string, number>();
  for (const result of results) {
    if (!recovery.has(result.label)) recovery.set(result.label, 0);
    if (result.startedAt < from) continue;
    if (result.ok && result.endedAt - result.startedAt <= NORMAL_LATENCY_MS) continue;
    recovery.set(result.label, Math.max(recovery.get(result.label)!, result.endedAt - eventAt));
  }
  return recovery;
}

/** The local app of laptop `identity`: who it is, uploads hashed, events streamed. */
function laptopHandler(identity: string): http.RequestListener {
  return (req, res) => {
    if (req.url === '/upload') {
      const hash = crypto.createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => res.end(`${identity} ${bytes} ${hash.digest('hex')}`));
      return;
    }
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      return sendFiveEvents(res);
    }
    res.end(identity);
  };
}

/** Reads an event stream; resolves with each event and when it arrived (bounded). */
function readEvents(url: string, timeoutMs = 10_000): Promise<Array<{ event: string; atMs: number }>> {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const arrivals: Array<{ event: string; atMs: number }> = [];
    const req = http.get(url, { agent: false }, (res) => {
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        pending += text;
        const events = pending.split('\n\n');
        pending = events.pop() ?? '';
        for (const event of events) arrivals.push({ event, atMs: Date.now() - startedAt });
      });
      res.on('end', () => resolve(arrivals));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`event stream from ${url} not finished within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** The replica (address:port) that served a response through nginx: the last one nginx tried. */
function servedBy(response: TestResponse): string {
  const tried = String(response.headers['x-upstream-addr'] ?? '');
  return tried.split(',').pop()!.trim();
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function freshHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'standin-home-'));
}
