/**
 * Several `standin server` replicas behind one real nginx, standing in for a Deployment behind
 * a Service and an ingress. Like pods, every replica listens on the same main port and the same
 * tunnel ports; they can because each binds its own loopback address (Linux routes all of
 * 127.0.0.0/8 to the loopback interface): replica i on 127.0.0.(i+2). nginx listens on
 * 127.0.0.1 on those same port numbers and spreads every port round-robin over the replicas,
 * retrying the next one when a connection is refused, so a test talks to
 * http://127.0.0.1:<port> as a browser or a client talks to the cluster.
 *
 * With `redisUrl` the replicas share it (`--redis`) and reach each other on their own
 * `--internal-listen` port, advertised as 127.0.0.(i+2):<port>, with one cluster secret.
 * Without it they are independent servers, which is enough to check the harness itself.
 */

import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { eventually, httpRequest } from './http';
import { proxyToAnyReplica, roundRobinUpstream, startNginx, type RunningNginx } from './nginx';
import { spawnStandin, type StandinProcess } from './processes';

export interface ReplicaClusterOptions {
  /** How many replicas (at most 250: one loopback address each). */
  replicas: number;
  /** Redis shared by the replicas; without it they run in-memory, each on its own. */
  redisUrl?: string;
  /** How many tunnel ports in --ports (default 6); nginx listens on each. */
  tunnelPortCount?: number;
  /** More flags for every replica, such as --token or --fallback. */
  serverArgs?: string[];
}

/** How long a stopped replica may drain (its --shutdown-grace); SIGKILL follows after twice that. */
const SHUTDOWN_GRACE_MS = 3_000;
// Bounds, not waits: a replica starting on a loaded 2-core CI machine under test traffic took over 15 s once.
const START_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 15_000;
/** Where to look for a block of free ports: below the ephemeral range and the ranges other tests pick. */
const PORT_BLOCK_FLOOR = 12_000;
const PORT_BLOCK_CEILING = 19_500;
const PORT_BLOCK_ATTEMPTS = 30;

/** One replica: a fixed address and ports, and the process currently running there (if any). */
export class Replica {
  process: StandinProcess | null = null;
  /** Every process that ran here, the current one last (their logs explain a failed test). */
  readonly processes: StandinProcess[] = [];

  constructor(
    readonly index: number,
    /** Its own loopback address, 127.0.0.(index+2). */
    readonly address: string,
    readonly mainPort: number,
    readonly internalPort: number,
  ) {}

  /** Its main port, directly (not through nginx): for readyz and for pinning a call to it. */
  get url(): string {
    return `http://${this.address}:${this.mainPort}`;
  }

  get running(): boolean {
    const child = this.process?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }
}

/** How long a restart took, for the figures a test prints. */
export interface RestartTiming {
  exitCode: number | null;
  /** From SIGTERM to the process's exit (its drain). */
  stopMs: number;
  /** From the exit to readyz answering 200 on the new process. */
  startMs: number;
}

export class ReplicaCluster {
  private constructor(
    readonly replicas: readonly Replica[],
    /** The main port: nginx on 127.0.0.1 and every replica on its own address. */
    readonly mainPort: number,
    readonly portRange: { from: number; to: number },
    private readonly replicaArgs: (replica: Replica) => string[],
    private readonly nginx: RunningNginx,
    private readonly secretDir: string,
  ) {}

  /** Starts the replicas, waits until each is ready, then starts nginx in front of them. */
  static async start(options: ReplicaClusterOptions): Promise<ReplicaCluster> {
    const count = options.replicas;
    if (!Number.isInteger(count) || count < 1 || count > 250) throw new RangeError(`replicas must be 1-250, not ${count}`);
    const tunnelPortCount = options.tunnelPortCount ?? 6;
    const addresses = Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);
    // One block: the main port, the tunnel ports, then one internal port per replica.
    const base = await findFreePortBlock(1 + tunnelPortCount + count);
    const mainPort = base;
    const portRange = { from: base + 1, to: base + tunnelPortCount };
    const replicas = addresses.map((address, i) => new Replica(i, address, mainPort, base + 1 + tunnelPortCount + i));

    const secretDir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-cluster-'));
    const secretFile = path.join(secretDir, 'cluster-secret');
    fs.writeFileSync(secretFile, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
    const replicaArgs = (replica: Replica) => [
      'server',
      ...toArgs({
        '--listen': String(mainPort),
        '--bind': replica.address,
        '--ports': `${portRange.from}-${portRange.to}`,
        '--shutdown-grace': `${SHUTDOWN_GRACE_MS / 1000}s`,
        '--log-level': 'info',
      }),
      ...(options.redisUrl === undefined
        ? []
        : toArgs({
            '--redis': options.redisUrl,
            '--internal-listen': String(replica.internalPort),
            '--advertise': `${replica.address}:${replica.internalPort}`,
            '--cluster-secret-file': secretFile,
          })),
      ...(options.serverArgs ?? []),
    ];

    let nginx: RunningNginx;
    try {
      const launched = await Promise.allSettled(replicas.map((replica) => launch(replica, replicaArgs(replica))));
      const failure = launched.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failure) throw failure.reason;
      const ports = [mainPort, ...Array.from({ length: tunnelPortCount }, (_, i) => portRange.from + i)];
      nginx = await startNginx(ports.map((port) => nginxServerFor(port, addresses)).join('\n'), ports);
    } catch (error) {
      await Promise.all(replicas.map(async (replica) => replica.process?.stop('SIGKILL')));
      fs.rmSync(secretDir, { recursive: true, force: true });
      throw error;
    }
    return new ReplicaCluster(replicas, mainPort, portRange, replicaArgs, nginx, secretDir);
  }

  /** The main port through nginx, as clients and browsers reach it. */
  get url(): string {
    return `http://127.0.0.1:${this.mainPort}`;
  }

  /** A tunnel port through nginx. */
  tunnelUrl(port: number): string {
    return `http://127.0.0.1:${port}`;
  }

  /** SIGTERM, wait for the exit (the replica drains), start it again and wait until it is ready. */
  async restart(index: number): Promise<RestartTiming> {
    const stoppingAt = Date.now();
    const exitCode = await this.stop(index);
    const startingAt = Date.now();
    await this.start(index);
    return { exitCode, stopMs: startingAt - stoppingAt, startMs: Date.now() - startingAt };
  }

  /** SIGKILL: the replica dies at once, as on an OOM kill or a lost node. */
  async kill(index: number): Promise<void> {
    await this.replica(index).process?.stop('SIGKILL');
  }

  /** SIGTERM and wait (bounded) for the exit; resolves with the exit code. */
  async stop(index: number): Promise<number | null> {
    const standin = this.replica(index).process;
    if (standin === null) return null;
    return standin.stop('SIGTERM', 2 * SHUTDOWN_GRACE_MS);
  }

  /** Starts a stopped replica with the same address, ports and flags; waits until it is ready. */
  async start(index: number): Promise<void> {
    const replica = this.replica(index);
    if (replica.running) throw new Error(`replica ${index} is still running`);
    await launch(replica, this.replicaArgs(replica));
  }

  /** Stops every replica at once (SIGTERM, in parallel). */
  async stopAll(): Promise<void> {
    await Promise.all(this.replicas.map((replica) => this.stop(replica.index)));
  }

  /** Starts every stopped replica at once and waits until all are ready. */
  async startAll(): Promise<void> {
    await Promise.all(this.replicas.filter((replica) => !replica.running).map((replica) => this.start(replica.index)));
  }

  /** Stops the replicas and nginx and removes the cluster secret. */
  async close(): Promise<void> {
    await this.stopAll();
    await this.nginx.stop();
    fs.rmSync(this.secretDir, { recursive: true, force: true });
  }

  private replica(index: number): Replica {
    const replica = this.replicas[index];
    if (replica === undefined) throw new RangeError(`no replica ${index}; there are ${this.replicas.length}`);
    return replica;
  }
}

/** Spawns the replica's process and waits until it listens and its readyz answers 200. */
async function launch(replica: Replica, args: string[]): Promise<void> {
  const standin = spawnStandin(args);
  replica.process = standin;
  replica.processes.push(standin);
  try {
    await standin.waitForLine((line) => line.message === 'standin server listening', START_TIMEOUT_MS);
    await eventually(async () => {
      if (!replica.running) throw new Error(`replica ${replica.index} exited with ${standin.child.exitCode}:\n${standin.stderr.join('')}`);
      const answer = await httpRequest(`${replica.url}/_standin/readyz`, { timeoutMs: 1_000 }).catch(() => null);
      return answer?.status === 200;
    }, READY_TIMEOUT_MS);
  } catch (error) {
    await standin.stop('SIGKILL');
    throw new Error(`replica ${replica.index} (${replica.address}) did not become ready: ${(error as Error).message}`);
  }
}

/** `{ '--flag': 'value' }` as command-line arguments. */
function toArgs(flags: Record<string, string>): string[] {
  return Object.entries(flags).flat();
}

/** nginx on 127.0.0.1:<port>, round-robin over every replica's same port. */
function nginxServerFor(port: number, addresses: readonly string[]): string {
  const upstream = `standin_${port}`;
  return `
  ${roundRobinUpstream(
    upstream,
    addresses.map((address) => `${address}:${port}`),
  )}
  server {
    listen 127.0.0.1:${port};
    location / {
      ${proxyToAnyReplica(upstream)}
    }
  }`;
}

/**
 * The first port of `count` consecutive ports that are all free on every address (bindable on
 * 0.0.0.0), tried at random places so that parallel test files rarely collide.
 */
async function findFreePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < PORT_BLOCK_ATTEMPTS; attempt++) {
    const base = PORT_BLOCK_FLOOR + Math.floor(Math.random() * (PORT_BLOCK_CEILING - PORT_BLOCK_FLOOR - count));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if ((await Promise.all(ports.map(isFreeEverywhere))).every(Boolean)) return base;
  }
  throw new Error(
    `no ${count} consecutive free ports between ${PORT_BLOCK_FLOOR} and ${PORT_BLOCK_CEILING} after ${PORT_BLOCK_ATTEMPTS} tries`,
  );
}

function isFreeEverywhere(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '0.0.0.0', () => probe.close(() => resolve(true)));
  });
}
