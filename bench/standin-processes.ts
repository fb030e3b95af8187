import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { findFreePort } from './free-port';
import { SpawnedProcess } from './spawned-process';
import { TARGET_PATH } from './target-app';
import { waitForStatus } from './wait-for-status';

/** How long standin gets to start and connect before the benchmark gives up on it. */
const STANDIN_READY_TIMEOUT_MS = 20_000;

/**
 * The environment for standin children: ours without any STANDIN_* variable. standin reads every
 * flag from STANDIN_<FLAG> too, so STANDIN_BIN (our own override) or a developer's STANDIN_TOKEN
 * would otherwise change, or break, the processes under test; the benchmark sets everything by flag.
 */
function standinEnvironment(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('STANDIN_')));
  return { ...env, ...overrides };
}

/** Whether the standin bin exists; the benchmark skips standin (and says so) when it does not. */
export function isStandinBuilt(standinBin: string): boolean {
  return existsSync(standinBin);
}

/** A running standin server and client, tunnelling to the target app. */
export interface StandinTunnel {
  readonly server: SpawnedProcess;
  readonly client: SpawnedProcess;
  /** The tunnel's public origin, e.g. http://127.0.0.1:9000. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts `standin server` with one tunnel port and `standin connect` to the target app, and waits
 * until a GET through the tunnel returns the app's 200.
 */
export async function startStandinTunnel(standinBin: string, targetPort: number): Promise<StandinTunnel> {
  const listenPort = await findFreePort();
  const tunnelPort = await findFreePort();
  // The client remembers ports in ~/.standin/state.json: give it a throwaway home.
  const home = mkdtempSync(join(tmpdir(), 'standin-bench-home-'));
  const server = startStandinServer(standinBin, listenPort, `${tunnelPort}-${tunnelPort}`);
  const client = startBenchClient(standinBin, targetPort, `http://127.0.0.1:${listenPort}`, tunnelPort, home);
  const url = `http://127.0.0.1:${tunnelPort}`;
  const stop = async (): Promise<void> => {
    await client.stop();
    await server.stop();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    await waitForStatus(`${url}${TARGET_PATH.small}`, 200, STANDIN_READY_TIMEOUT_MS, [server, client]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { server, client, url, stop };
}

/** `standin connect` as the bench runs it: tunnel "bench" on `tunnelPort`, quiet, no inspector. */
function startBenchClient(standinBin: string, targetPort: number, serverUrl: string, tunnelPort: number, home: string): SpawnedProcess {
  return SpawnedProcess.start(
    'standin client',
    process.execPath,
    [
      standinBin,
      'connect',
      String(targetPort),
      '--server',
      serverUrl,
      '--name',
      'bench',
      '--port',
      String(tunnelPort),
      '--log-level',
      'warn',
      '--no-inspect',
    ],
    standinEnvironment({ HOME: home }),
  );
}

/** Starts `standin server --listen <port> --ports <range>` with warnings-only logging. */
export function startStandinServer(
  standinBin: string,
  listenPort: number,
  ports: string,
  extraArgs: readonly string[] = [],
): SpawnedProcess {
  return SpawnedProcess.start(
    'standin server',
    process.execPath,
    [standinBin, 'server', '--listen', String(listenPort), '--ports', ports, '--log-level', 'warn', ...extraArgs],
    standinEnvironment(),
  );
}

/** Two replicas of one Redis, with the browser on one and the client on the other. */
export interface StandinReplicas extends StandinTunnel {
  readonly browserSide: SpawnedProcess;
  readonly redis: SpawnedProcess;
}

/** The redis-server binary, or null when it is not installed (the replica target is then skipped). */
export function findRedisServer(): string | null {
  for (const path of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (existsSync(path)) return path;
  return null;
}

/**
 * Replica mode (docs/replicas.md) at its most expensive: the client polls replica B only, and
 * the browser requests reach replica A, which passes each one to B over B's internal port. Each
 * replica binds its own loopback address (127.0.0.2, 127.0.0.3), as they share the tunnel port.
 */
export async function startStandinReplicas(standinBin: string, redisBin: string, targetPort: number): Promise<StandinReplicas> {
  const redisPort = await findFreePort();
  const listenPort = await findFreePort();
  const tunnelPort = await findFreePort();
  const home = mkdtempSync(join(tmpdir(), 'standin-bench-home-'));
  const redis = SpawnedProcess.start(
    'redis-server',
    redisBin,
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    standinEnvironment(),
  );
  await waitForTcp('127.0.0.1', redisPort, 10_000);
  const replica = (address: string, label: string) =>
    SpawnedProcess.start(
      label,
      process.execPath,
      [
        standinBin,
        'server',
        '--bind',
        address,
        '--listen',
        String(listenPort),
        '--ports',
        `${tunnelPort}-${tunnelPort}`,
        '--log-level',
        'warn',
        '--redis',
        `redis://127.0.0.1:${redisPort}`,
        '--internal-listen',
        '0',
        '--cluster-secret',
        'bench-cluster-secret-0123456789',
      ],
      standinEnvironment(),
    );
  const browserSide = replica('127.0.0.2', 'standin replica A');
  const server = replica('127.0.0.3', 'standin replica B');
  const client = startBenchClient(standinBin, targetPort, `http://127.0.0.3:${listenPort}`, tunnelPort, home);
  const url = `http://127.0.0.2:${tunnelPort}`;
  const stop = async (): Promise<void> => {
    await client.stop();
    await browserSide.stop();
    await server.stop();
    await redis.stop();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    await waitForStatus(`${url}${TARGET_PATH.small}`, 200, STANDIN_READY_TIMEOUT_MS, [browserSide, server, client]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { server, client, browserSide, redis, url, stop };
}

/** Waits until something accepts TCP connections on host:port. */
async function waitForTcp(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}
