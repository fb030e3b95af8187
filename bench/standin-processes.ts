import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  const client = SpawnedProcess.start(
    'standin client',
    process.execPath,
    [
      standinBin, 'connect', String(targetPort),
      '--server', `http://127.0.0.1:${listenPort}`,
      '--name', 'bench',
      '--port', String(tunnelPort),
      '--log-level', 'warn',
      '--no-inspect',
    ],
    standinEnvironment({ HOME: home }),
  );
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
