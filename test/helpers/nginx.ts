/**
 * A real nginx for tests, standing in for a cluster's web proxy: a generated config in a temp
 * directory (logs and temp files there too), listening on loopback ports, run in the foreground
 * as a child process.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { eventually } from './http';

/** Where the Debian package nginx-light installs nginx. */
export const NGINX_BIN = '/usr/sbin/nginx';

export interface RunningNginx {
  dir: string;
  /** nginx's error log so far, for failure messages. */
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * The proxy lines a cluster proxy needs in front of standin, as in the README (Route traffic to your laptop): HTTP/1.1,
 * the WebSocket upgrade headers, long timeouts and no buffering in either direction.
 */
export function proxyTo(upstream: string): string {
  return `proxy_pass ${upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_buffering off;
      proxy_request_buffering off;
      client_max_body_size 0;`;
}

/**
 * An upstream group that spreads connections round-robin over `servers` (`host:port`), as a
 * Kubernetes Service spreads them over a Deployment's pods. `max_fails=0`: nginx never benches
 * a server for a while after one failure (ingress-nginx's default too), so the rotation stays
 * predictable and a restarted replica gets traffic the moment it listens again.
 */
export function roundRobinUpstream(name: string, servers: readonly string[]): string {
  return `upstream ${name} {
    ${servers.map((server) => `server ${server} max_fails=0;`).join('\n    ')}
  }`;
}

/**
 * proxyTo() for an upstream group of replicas: a connection that is refused or times out
 * (a replica that is restarting or dead) is tried on the next replica, as ingress-nginx does,
 * before any byte of the request went out. `X-Upstream-Addr` tells a test which replica served.
 */
export function proxyToAnyReplica(upstreamName: string): string {
  return `${proxyTo(`http://${upstreamName}`)}
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
      # Polls, streamed response POSTs and WebSockets are silent for long stretches.
      client_body_timeout 3600s;
      send_timeout 3600s;
      add_header X-Upstream-Addr $upstream_addr always;`;
}

/** Starts nginx with `serverBlocks` inside its http {} block; waits until every port accepts connections. */
export async function startNginx(serverBlocks: string, ports: number[]): Promise<RunningNginx> {
  if (!fs.existsSync(NGINX_BIN)) {
    throw new Error(`nginx is not installed at ${NGINX_BIN}: install the Debian package nginx-light (apt-get install nginx-light)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-nginx-'));
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig(dir, serverBlocks));
  const child = spawn(
    NGINX_BIN,
    ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log'), '-g', `daemon off; pid ${path.join(dir, 'nginx.pid')};`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const errorLog = () => readIfExists(path.join(dir, 'error.log'));
  try {
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${output}\n${errorLog()}`);
      return (await Promise.all(ports.map(accepts))).every(Boolean);
    }, 10_000);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { dir, errorLog, stop: () => stopChild(child) };
}

function nginxConfig(dir: string, serverBlocks: string): string {
  const temp = (name: string) => path.join(dir, name);
  return `worker_processes 1;
error_log ${temp('error.log')} info;
events { worker_connections 2048; }
http {
  access_log ${temp('access.log')};
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  # WebSocket upgrades (dev-server hot reload): "Connection: upgrade" only when the browser asked.
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
${serverBlocks}
}
`;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function readIfExists(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A port that was free a moment ago, for a listener that cannot bind port 0 itself (nginx). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
