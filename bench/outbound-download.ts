/**
 * Throughput of a streamed download through the outbound path (app → `standin connect
 * --cluster-proxy` → `standin server` → in-cluster service) against the same download straight
 * from the service and through the same client's inbound tunnel (browser → server → client →
 * app), in interleaved rounds on this machine, since a shared machine drifts within minutes.
 *
 *   npm run build && node dist/bench/outbound-download.js            # 1 GiB, 3 rounds
 *   node dist/bench/outbound-download.js --mib 256 --rounds 1
 *
 * Every process is its own child (service, server, client); the downloader runs here with undici,
 * as a Node app does. The figures are MiB/s of body bytes, and a download counts only when every
 * byte arrived.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';
import { findFreePort } from './free-port';
import { RssSampler, type MeasuredProcess } from './process-stats';
import { killAllChildren, SpawnedProcess } from './spawned-process';
import { startStandinServer } from './standin-processes';
import { TARGET_PATH } from './target-app';

const MIB = 1024 * 1024;

/** How long the processes get to start and the proxy to answer its first call. */
const READY_TIMEOUT_MS = 20_000;

interface Options {
  mib: number;
  rounds: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { mib: 1024, rounds: 3 };
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (args[i] === '--mib' && Number.isInteger(value) && value > 0) options.mib = value;
    else if (args[i] === '--rounds' && Number.isInteger(value) && value > 0) options.rounds = value;
    else throw new Error(`usage: outbound-download.js [--mib <MiB>] [--rounds <n>]; got ${args.join(' ')}`);
  }
  return options;
}

/** Downloads `bytes` from the service through `dispatcher`; MiB/s, or an error when bytes went missing. */
async function download(serviceOrigin: string, bytes: number, dispatcher: Dispatcher): Promise<number> {
  const startedAt = performance.now();
  const response = await request(`${serviceOrigin}${TARGET_PATH.download}?bytes=${bytes}`, {
    dispatcher,
    signal: AbortSignal.timeout(10 * 60_000),
  });
  let received = 0;
  for await (const chunk of response.body) received += (chunk as Buffer).length;
  const seconds = (performance.now() - startedAt) / 1000;
  if (response.statusCode !== 200 || received !== bytes)
    throw new Error(`download broken: status ${response.statusCode}, ${received} of ${bytes} bytes`);
  return bytes / MIB / seconds;
}

async function waitForProxy(serviceOrigin: string, proxy: Dispatcher, processes: SpawnedProcess[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    const gone = processes.find((process) => !process.isRunning);
    if (gone) throw new Error(`${gone.label} exited${gone.describeExit()}`);
    try {
      const response = await request(`${serviceOrigin}${TARGET_PATH.small}`, { dispatcher: proxy, signal: AbortSignal.timeout(2_000) });
      await response.body.dump();
      if (response.statusCode === 200) return;
      last = `status ${response.statusCode}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await delay(100);
  }
  throw new Error(`the cluster proxy did not answer within ${READY_TIMEOUT_MS} ms (last: ${last})`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const standinBin = process.env.STANDIN_BIN ?? resolve(__dirname, '../bin/standin.js');
  const service = SpawnedProcess.start('service', process.execPath, [resolve(__dirname, 'target-app.js')]);
  const servicePort = await service.waitForListeningPort(READY_TIMEOUT_MS);
  const serviceOrigin = `http://127.0.0.1:${servicePort}`;
  const listenPort = await findFreePort();
  const proxyPort = await findFreePort();
  const tunnelPort = await findFreePort();
  const server = startStandinServer(standinBin, listenPort, `${tunnelPort}-${tunnelPort}`, [
    '--outbound-allow',
    `127.0.0.1:${servicePort}`,
    '--outbound-allow-private',
  ]);
  const home = mkdtempSync(join(tmpdir(), 'standin-bench-home-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('STANDIN_')));
  const client = SpawnedProcess.start(
    'standin client',
    process.execPath,
    [
      standinBin,
      'connect',
      String(servicePort),
      '--server',
      `http://127.0.0.1:${listenPort}`,
      '--name',
      'bench-outbound',
      '--port',
      String(tunnelPort),
      '--cluster-proxy',
      String(proxyPort),
      '--log-level',
      'warn',
      '--no-inspect',
    ],
    { ...env, HOME: home },
  );
  // Absolute-form requests, as curl and node:http agents send them through HTTP_PROXY.
  const proxy = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false });
  const direct = new Agent();
  try {
    await waitForProxy(serviceOrigin, proxy, [service, server, client]);
    const bytes = options.mib * MIB;
    console.log(`download of ${options.mib} MiB, ${options.rounds} round(s), Node ${process.version}`);
    const hops: MeasuredProcess[] = [
      { role: 'server', pid: server.pid },
      { role: 'client', pid: client.pid },
    ];
    for (let round = 1; round <= options.rounds; round++) {
      const directMiBs = await download(serviceOrigin, bytes, direct);
      const inboundMiBs = await download(`http://127.0.0.1:${tunnelPort}`, bytes, direct);
      const sampler = new RssSampler(hops);
      const outboundMiBs = await download(serviceOrigin, bytes, proxy);
      const memory = sampler
        .stop()
        .map((peak) => `${peak.role} ${Math.round(peak.startRssKiB / 1024)}→${Math.round(peak.peakRssKiB / 1024)} MiB`)
        .join(', ');
      const share = (miBs: number) => `${((miBs / directMiBs) * 100).toFixed(0)}% of direct`;
      console.log(
        `round ${round}: direct ${directMiBs.toFixed(0)} MiB/s, inbound tunnel ${inboundMiBs.toFixed(0)} MiB/s (${share(inboundMiBs)}), outbound ${outboundMiBs.toFixed(0)} MiB/s (${share(outboundMiBs)}); outbound RSS start→peak: ${memory}`,
      );
    }
  } finally {
    await Promise.allSettled([proxy.close(), direct.close()]);
    await client.stop();
    await server.stop();
    await service.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  killAllChildren();
  process.exitCode = 1;
});
