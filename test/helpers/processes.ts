/**
 * The real `standin` processes for end-to-end tests: spawned from dist/ like a user runs them,
 * with JSON logs on stdout that the tests read line by line.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Path of the built CLI. */
export const STANDIN_BIN = path.resolve(__dirname, '../../bin/standin.js');

/** A log line as the processes write it with --log-format json. */
export type LogLine = Record<string, unknown> & { message?: string };

/** A running standin process and everything it printed. */
export class StandinProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      partial += text;
      const complete = partial.split('\n');
      partial = complete.pop() ?? '';
      for (const line of complete) {
        if (!line.trim()) continue;
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ message: line });
        }
      }
      for (const wake of this.waiters) wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.stderr.push(text);
      for (const wake of this.waiters) wake();
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        for (const wake of this.waiters) wake();
        resolve(code);
      }),
    );
  }

  /** Waits (bounded) for a log line that matches. */
  waitForLine(matches: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.find(matches);
        if (!found) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `no matching log line within ${timeoutMs} ms; got:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\n${this.stderr.join('')}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The exit code, or a rejection if the process is still running after `timeoutMs`. */
  exitedWithin(timeoutMs = 15_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(
          new Error(
            `process still running after ${timeoutMs} ms; output:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\n${this.stderr.join('')}`,
          ),
        );
      }, timeoutMs);
    });
    return Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
  }

  /** Sends a signal and waits (bounded) for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Spawns `standin <args>` with JSON logs and a private HOME (for ~/.standin/state.json). */
export function spawnStandin(args: string[], env: Record<string, string> = {}): StandinProcess {
  const child = spawn(process.execPath, [STANDIN_BIN, ...args], {
    env: { ...cleanEnv(), STANDIN_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new StandinProcess(child);
}

/** A running `standin server` with its main port and tunnel port range. */
export interface ServerProcess extends StandinProcess {
  mainPort: number;
  url: string;
  portRange: { from: number; to: number };
}

/** Starts `standin server` on a free main port and a random small range of tunnel ports. */
export async function startServerProcess(extraArgs: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const from = 20_000 + Math.floor(Math.random() * 400) * 100;
  const portRange = { from, to: from + 49 };
  const server = spawnStandin(
    ['server', '--listen', '0', '--ports', `${portRange.from}-${portRange.to}`, '--log-level', 'debug', ...extraArgs],
    env,
  );
  const listening = await server.waitForLine((line) => line.message === 'standin server listening');
  const mainPort = Number(listening.port);
  return Object.assign(server, { mainPort, url: `http://127.0.0.1:${mainPort}`, portRange });
}

/** A running `standin connect` with what its "tunnel ready" line said. */
export interface ClientProcess extends StandinProcess {
  tunnel: string;
  port: number;
  publicUrl: string;
  home: string;
}

/** Starts `standin connect <target> --server <url>` and waits until the tunnel is ready. */
export async function startClientProcess(
  target: string,
  serverUrl: string,
  extraArgs: string[] = [],
  options: { home?: string; env?: Record<string, string> } = {},
): Promise<ClientProcess> {
  const home = options.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'standin-home-'));
  const client = spawnStandin(['connect', target, '--server', serverUrl, ...extraArgs], { HOME: home, ...options.env });
  const ready = await client.waitForLine((line) => line.message === 'tunnel ready');
  return Object.assign(client, {
    tunnel: String(ready.tunnel),
    port: Number(ready.port),
    publicUrl: `http://127.0.0.1:${String(ready.port)}`,
    home,
  });
}

/** The environment without STANDIN_* variables of the developer running the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('STANDIN_')) delete env[key];
  return env;
}
