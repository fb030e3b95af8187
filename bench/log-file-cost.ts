/**
 * What --log-file (and the inspector) cost on throughput: one app, one server, four clients that
 * differ only in those flags, loaded in turn with the same autocannon run, two interleaved rounds
 * so a noisy machine hurts every variant alike. Run: npx tsc -p tsconfig.json && node dist/bench/log-file-cost.js
 */

import autocannon from 'autocannon';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startClientProcess, startServerProcess, type ClientProcess } from '../test/helpers/processes';

const DURATION_SEC = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 32;
const ROUNDS = 2;

async function main(): Promise<void> {
  const body = JSON.stringify({ ok: true, items: [1, 2, 3], message: 'hello from the app' });
  const app = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const appPort = String((app.address() as AddressInfo).port);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-bench-log-'));
  const server = await startServerProcess();
  const common = ['--concurrency', String(CONNECTIONS), '--quiet'];
  const variants: [string, ClientProcess][] = [
    ['no log file, no inspector', await startClientProcess(appPort, server.url, ['--name', 'plain', '--no-inspect', ...common])],
    [
      '--log-file, no inspector',
      await startClientProcess(appPort, server.url, [
        '--name',
        'logged',
        '--no-inspect',
        '--log-file',
        path.join(dir, 'a.ndjson'),
        ...common,
      ]),
    ],
    ['inspector, no log file', await startClientProcess(appPort, server.url, ['--name', 'inspected', '--inspect', '0', ...common])],
    [
      '--log-file + inspector',
      await startClientProcess(appPort, server.url, [
        '--name',
        'both',
        '--inspect',
        '0',
        '--log-file',
        path.join(dir, 'b.ndjson'),
        ...common,
      ]),
    ],
  ];
  const rps = new Map<string, number[]>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, client] of variants) {
        const result = await autocannon({ url: `${client.publicUrl}/bench`, connections: CONNECTIONS, duration: DURATION_SEC });
        rps.set(name, [...(rps.get(name) ?? []), result.requests.average]);
        console.log(
          `round ${round + 1}  ${name.padEnd(26)} ${Math.round(result.requests.average)} req/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  errors ${result.errors + result.non2xx}`,
        );
      }
    }
    for (const [name, values] of rps)
      console.log(`${name.padEnd(26)} mean ${Math.round(values.reduce((a, b) => a + b, 0) / values.length)} req/s`);
  } finally {
    for (const [, client] of variants) await client.stop('SIGINT');
    await server.stop();
    app.close();
    app.closeAllConnections();
  }
}

void main();
