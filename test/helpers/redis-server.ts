/**
 * A real redis-server for tests (Debian package redis-server): one process on a free loopback
 * port, its files in its own temp directory, no persistence of its own (`--save ''`,
 * `--appendonly no`). `stopFor` plays an outage: the server goes away and comes back on the
 * same port, as a restarted or briefly unreachable Redis does for the replicas.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { eventually } from './http';
import { freePort } from './nginx';

/** Where the Debian package redis-server installs it. */
export const REDIS_SERVER_BIN = '/usr/bin/redis-server';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const COMMAND_TIMEOUT_MS = 2_000;
const DUMP_FILE = 'dump.rdb';

/** A running redis-server. */
export class RedisServer {
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** Starts redis-server on a free loopback port and waits until it answers PING. */
  static async start(): Promise<RedisServer> {
    if (!fs.existsSync(REDIS_SERVER_BIN)) {
      throw new Error(
        `redis-server is not installed at ${REDIS_SERVER_BIN}: install the Debian package redis-server (apt-get install redis-server)`,
      );
    }
    const redis = new RedisServer(await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), 'standin-redis-')));
    await redis.launch();
    return redis;
  }

  /** The URL the server's --redis takes. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Resolves once the server answers PING with PONG (bounded). */
  async waitReady(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    try {
      await eventually(async () => {
        if (this.child === null) throw new Error(`redis-server exited:\n${this.output}`);
        return (await this.command('PING').catch(() => '')) === '+PONG';
      }, timeoutMs);
    } catch (error) {
      throw new Error(`redis-server on port ${this.port} not ready within ${timeoutMs} ms: ${(error as Error).message}\n${this.output}`);
    }
  }

  /**
   * An outage of `durationMs`: the server stops (connections drop, new ones are refused) and
   * starts again on the same port. With `keepData` (the default) it saves its data set on the
   * way down and loads it on the way up, like a Redis with persistence or one that was merely
   * unreachable; without, it comes back empty, like a lost single-instance Redis.
   */
  async stopFor(durationMs: number, options: { keepData?: boolean } = {}): Promise<void> {
    await this.stop(options.keepData ?? true);
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    await this.launch();
  }

  /** Stops the server (bounded; SIGKILL if SHUTDOWN is not honoured in time). */
  async stop(keepData = false): Promise<void> {
    const child = this.child;
    if (child === null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // SHUTDOWN SAVE writes dump.rdb even with --save '', so the next start loads it.
    await this.command(keepData ? 'SHUTDOWN SAVE' : 'SHUTDOWN NOSAVE').catch(() => child.kill('SIGTERM'));
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    // An earlier stop may have saved one; the next start must not load it.
    if (!keepData) fs.rmSync(path.join(this.dir, DUMP_FILE), { force: true });
  }

  /** Stops the server for good and deletes its directory. */
  async close(): Promise<void> {
    await this.stop(false);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--dbfilename',
      DUMP_FILE,
      '--logfile',
      '',
    ];
    const child = spawn(REDIS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    child.once('error', (error) => keep(Buffer.from(`spawn failed: ${error.message}\n`)));
    await this.waitReady();
  }

  /**
   * Sends one inline command and resolves with the first line of the answer. Plain RESP over a
   * socket, so the harness needs no Redis client library of its own.
   */
  command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let answer = '';
      const done = (error?: Error) => {
        clearTimeout(timer);
        socket.destroy();
        if (error) reject(error);
        else resolve(answer.split('\r\n')[0] ?? '');
      };
      const timer = setTimeout(() => done(new Error(`redis ${line}: no answer within ${COMMAND_TIMEOUT_MS} ms`)), COMMAND_TIMEOUT_MS);
      socket.once('connect', () => socket.write(`${line}\r\n`));
      socket.setEncoding('utf8').on('data', (text: string) => {
        answer += text;
        if (answer.includes('\r\n')) done();
      });
      socket.once('error', (error) => done(error));
      // SHUTDOWN answers nothing: the server closes the connection.
      socket.once('close', () => done());
    });
  }
}
