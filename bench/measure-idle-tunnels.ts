import { setTimeout as delay } from 'node:timers/promises';
import { findFreePort } from './free-port';
import { registerIdleTunnels } from './idle-tunnels';
import { readCpuMicros, readMemory } from './process-stats';
import { IdleResult } from './results-table';
import { startStandinServer } from './standin-processes';
import { waitForStatus } from './wait-for-status';

/** Time for the parked polls and the server's heap to settle before the rest window starts. */
const SETTLE_MS = 3_000;

/** What the idle measurement needs to know. */
export interface IdlePlan {
  readonly standinBin: string;
  readonly tunnels: number;
  readonly pollsEach: number;
  readonly restSec: number;
}

/**
 * Starts a fresh standin server without per-tunnel ports, parks `tunnels × pollsEach` polls on
 * it, and measures its memory and CPU while nothing else happens.
 */
export async function measureIdleTunnels(plan: IdlePlan): Promise<IdleResult> {
  const listenPort = await findFreePort();
  // Without per-tunnel ports, so that 1,000 tunnels cost no 1,000 listening sockets: the memory
  // measured is the registry's and the parked polls'. Health checks stay at their default.
  // The 1,000 simulated laptops all come from 127.0.0.1, which the per-source connection cap
  // (1,000 by default) would otherwise refuse past the first thousand polls.
  const server = startStandinServer(plan.standinBin, listenPort, 'none', ['--max-connections-per-source', '0']);
  const serverUrl = `http://127.0.0.1:${listenPort}`;
  try {
    await waitForStatus(`${serverUrl}/_standin/healthz`, 200, 20_000, server);
    await delay(500);
    const rssEmptyKiB = readMemory(server.pid).rssKiB;
    const idle = await registerIdleTunnels(serverUrl, plan.tunnels, plan.pollsEach);
    try {
      await delay(SETTLE_MS);
      const cpuBefore = readCpuMicros(server.pid);
      const restStartedAt = performance.now();
      await delay(plan.restSec * 1000);
      const cpuShareOfCore = (readCpuMicros(server.pid) - cpuBefore) / ((performance.now() - restStartedAt) * 1000);
      const failures = idle.failures();
      if (!server.isRunning) throw new Error(`standin server exited during the idle run${server.describeExit()}`);
      return {
        tunnels: idle.tunnels,
        pollsEach: plan.pollsEach,
        registrationMs: idle.registrationMs,
        pollsInFlight: idle.openPolls(),
        rssEmptyKiB,
        rssAtRestKiB: readMemory(server.pid).rssKiB,
        restSec: plan.restSec,
        cpuShareOfCore,
        emptyPollAnswers: idle.emptyPollAnswers(),
        requestsAnswered: idle.requestsAnswered(),
        failures: failures.count,
        lastFailure: failures.last,
      };
    } finally {
      await idle.stop();
    }
  } finally {
    await server.stop();
  }
}
