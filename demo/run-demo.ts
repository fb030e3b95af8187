/**
 * `npm run demo`: standin end to end on this machine. Starts a demo app, the real
 * `standin server` and the real `standin connect` (as a user would run them), and prints the
 * URL to open. With `--check` it fetches that URL once, reports, and exits (used by the tests).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { demoApp } from './demo-app';

const STANDIN = path.resolve(__dirname, '../bin/standin.js');
const checkOnly = process.argv.includes('--check');

async function main(): Promise<void> {
  const appPort = await freePort(3000);
  const serverPort = await freePort(8080);
  const tunnelPort = await freePort(9000);
  const app = http.createServer(demoApp()).listen(appPort, '127.0.0.1');
  const children: ChildProcess[] = [];
  const stopAll = () => {
    for (const child of children) child.kill('SIGINT');
    app.close();
    app.closeAllConnections();
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);

  // Bound to 127.0.0.1: an open demo server must not be reachable from the network. Its
  // warnings (such as "no token set") go to the terminal, where the person trying it reads them.
  const server = spawn(
    process.execPath,
    [
      STANDIN,
      'server',
      '--bind',
      '127.0.0.1',
      '--listen',
      String(serverPort),
      '--ports',
      `${tunnelPort}-${tunnelPort + 9}`,
      '--log-level',
      'warn',
      '--log-format',
      'pretty',
    ],
    {
      stdio: ['ignore', checkOnly ? 'ignore' : 'inherit', 'inherit'],
    },
  );
  children.push(server);
  await waitUntilListening(serverPort);

  const logFormat = checkOnly ? 'json' : 'pretty';
  const client = spawn(
    process.execPath,
    [
      STANDIN,
      'connect',
      String(appPort),
      '--server',
      `http://127.0.0.1:${serverPort}`,
      '--name',
      'demo',
      '--port',
      String(tunnelPort),
      '--log-format',
      logFormat,
    ],
    {
      stdio: ['ignore', checkOnly ? 'ignore' : 'inherit', 'inherit'],
    },
  );
  children.push(client);
  client.once('exit', (code) => {
    if (code) process.exitCode = code;
    stopAll();
  });
  const url = `http://127.0.0.1:${tunnelPort}/`;
  await waitForTunnel(url);

  if (checkOnly) {
    const body = await fetchText(`${url}api/hello`);
    process.stdout.write(`demo ok: ${url} answered ${body.slice(0, 60)}…\n`);
    stopAll();
    return;
  }
  process.stdout.write(
    `\n  Demo app on http://127.0.0.1:${appPort}/ (your "local app")\n  standin server on http://127.0.0.1:${serverPort}/ (what runs in the cluster)\n\n  Open \x1b[1m${url}\x1b[0m — that page travels browser → server → client → app and back.\n  Ctrl-C stops everything.\n\n`,
  );
}

/** `preferred` when it is free, else any free port. */
async function freePort(preferred: number): Promise<number> {
  for (const candidate of [preferred, 0]) {
    const port = await new Promise<number | null>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(null));
      probe.listen(candidate, () => {
        const bound = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(bound));
      });
    });
    if (port !== null) return port;
  }
  throw new Error('no free port');
}

async function waitUntilListening(port: number): Promise<void> {
  await retry(() => fetchText(`http://127.0.0.1:${port}/_standin/healthz`));
}

async function waitForTunnel(url: string): Promise<void> {
  await retry(async () => {
    const body = await fetchText(url);
    if (!body.includes('Hello from your local app')) throw new Error('tunnel not ready');
  });
}

/** Retries `attempt` every 200 ms for up to 15 s. */
async function retry(attempt: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

main().catch((error: Error) => {
  process.stderr.write(`demo failed: ${error.message}\n`);
  process.exit(1);
});
