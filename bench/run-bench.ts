import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { BenchConfig, BenchUsageError, parseBenchConfig } from './bench-config';
import { findNginx, NginxBaseline, startNginx } from './nginx-baseline';
import { findFreePort } from './free-port';
import { describeMachine } from './machine-info';
import { measureIdleTunnels } from './measure-idle-tunnels';
import { BenchTarget, measureTarget, Measured, RoundPlan, TargetRound, warmUp } from './measure-target';
import { IdleResult, renderComparisonTable, renderResultsMarkdown } from './results-table';
import { killAllChildren, SpawnedProcess } from './spawned-process';
import {
  findRedisServer,
  isStandinBuilt,
  StandinReplicas,
  StandinTunnel,
  startStandinReplicas,
  startStandinTunnel,
} from './standin-processes';
import { TARGET_PATH } from './target-app';
import { waitForStatus } from './wait-for-status';

/**
 * `npm run bench`: the target app, the baselines (direct, Node proxy, nginx when installed) and
 * standin, measured in interleaved rounds; the summary goes to stdout and bench/RESULTS.md.
 */

/** Everything the run started, so that it can all be stopped, whatever happens. */
interface RunningSetup {
  readonly targets: BenchTarget[];
  readonly notes: string[];
  stop(): Promise<void>;
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const config = parseConfigOrExit();
  const watchdog = setTimeout(() => abortRun(`the run exceeded its ${config.maxRunMs / 60_000} minute bound`), config.maxRunMs);
  const machine = describeMachine();
  log(`standin bench: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}`);
  const setup = await startTargets(config);
  let rounds: TargetRound[][] = [];
  let idle: Measured<IdleResult> | null = null;
  try {
    const echoBody = randomBytes(config.echoBytes);
    await warmUpAll(setup.targets, config, echoBody);
    rounds = await runRounds(setup.targets, config, echoBody);
  } finally {
    await setup.stop();
  }
  if (isStandinBuilt(config.standinBin) && config.idleTunnels > 0) idle = await runIdleTunnels(config);
  const elapsedSec = (performance.now() - startedAt) / 1000;
  const markdown = renderResultsMarkdown({ config, machine, rounds, idle, notes: setup.notes, elapsedSec });
  writeFileSync(config.resultsPath, markdown);
  log(`\n${markdown}`);
  log(`wrote ${config.resultsPath} after ${Math.round(elapsedSec)} s`);
  clearTimeout(watchdog);
}

function parseConfigOrExit(): BenchConfig {
  try {
    return parseBenchConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    if (error.message !== 'help') process.stderr.write(`${error.message}\n`);
    process.stderr.write(`${error.usage}\n`);
    process.exit(error.message === 'help' ? 0 : 2);
  }
}

/** Starts the app, the Node proxy, nginx (when installed) and standin (when built). */
async function startTargets(config: BenchConfig): Promise<RunningSetup> {
  const notes: string[] = [];
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const stopOne of stoppers.reverse()) await stopOne();
  };
  try {
    const app = SpawnedProcess.start('target app', process.execPath, [require.resolve('./target-app')]);
    stoppers.push(() => app.stop());
    const appUrl = `http://127.0.0.1:${await app.waitForListeningPort(10_000)}`;
    const appProcess = { role: 'app', pid: app.pid };
    const targets: BenchTarget[] = [{ name: 'direct', url: appUrl, hops: [], app: appProcess }];

    const proxy = SpawnedProcess.start('node proxy', process.execPath, [require.resolve('./node-proxy'), '0', appUrl]);
    stoppers.push(() => proxy.stop());
    const proxyUrl = `http://127.0.0.1:${await proxy.waitForListeningPort(10_000)}`;
    await waitForStatus(`${proxyUrl}${TARGET_PATH.small}`, 200, 10_000, proxy);
    targets.push({ name: 'node-proxy', url: proxyUrl, hops: [{ role: 'proxy', pid: proxy.pid }], app: appProcess });

    const nginx = await startNginxIfWanted(config, new URL(appUrl), notes);
    if (nginx) {
      stoppers.push(() => nginx.stop());
      targets.push({ name: 'nginx', url: nginx.url, hops: [{ role: 'nginx', pid: nginx.process.pid }], app: appProcess });
    }

    const standin = await startStandinIfBuilt(config, new URL(appUrl), notes);
    if (standin) {
      stoppers.push(() => standin.stop());
      targets.push({
        name: 'standin',
        url: standin.url,
        hops: [
          { role: 'server', pid: standin.server.pid },
          { role: 'client', pid: standin.client.pid },
        ],
        app: appProcess,
      });
    }
    const replicas = await startReplicasIfPossible(config, new URL(appUrl), notes);
    if (replicas) {
      stoppers.push(() => replicas.stop());
      targets.push({
        name: 'standin-replicas',
        url: replicas.url,
        hops: [
          { role: 'replica A', pid: replicas.browserSide.pid },
          { role: 'replica B', pid: replicas.server.pid },
          { role: 'client', pid: replicas.client.pid },
          { role: 'redis', pid: replicas.redis.pid },
        ],
        app: appProcess,
      });
    }
    return { targets, notes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startNginxIfWanted(config: BenchConfig, app: URL, notes: string[]): Promise<NginxBaseline | null> {
  if (!config.useNginx) return null;
  const nginxPath = findNginx();
  if (nginxPath === null) {
    note(notes, 'nginx: not installed, skipped (apt-get install -y nginx-light to add it).');
    return null;
  }
  const nginx = await startNginx(nginxPath, await findFreePort(), Number(app.port));
  note(notes, `nginx: ${nginxPath}, one process (master_process off), proxy buffering off both ways, upstream keepalive.`);
  return nginx;
}

async function startStandinIfBuilt(config: BenchConfig, app: URL, notes: string[]): Promise<StandinTunnel | null> {
  if (!isStandinBuilt(config.standinBin)) {
    note(notes, `standin not built (${config.standinBin} does not exist): skipped.`);
    return null;
  }
  try {
    const standin = await startStandinTunnel(config.standinBin, Number(app.port));
    note(notes, `standin: ${config.standinBin}, server and client with --log-level warn, client --no-inspect.`);
    return standin;
  } catch (error) {
    note(notes, `standin did not start, skipped: ${oneLine((error as Error).message)}`);
    return null;
  }
}

/** Replica mode with the browser and the client on different replicas (needs redis-server). */
async function startReplicasIfPossible(config: BenchConfig, app: URL, notes: string[]): Promise<StandinReplicas | null> {
  if (!isStandinBuilt(config.standinBin)) return null;
  const redisBin = findRedisServer();
  if (redisBin === null) {
    note(notes, 'standin-replicas: redis-server not installed, skipped (apt-get install -y redis-server to add it).');
    return null;
  }
  try {
    const replicas = await startStandinReplicas(config.standinBin, redisBin, Number(app.port));
    note(
      notes,
      'standin-replicas: two replicas of one redis-server; the browser reaches replica A, the client polls replica B, so every request hops A -> B over the internal port.',
    );
    return replicas;
  } catch (error) {
    note(notes, `standin-replicas did not start, skipped: ${oneLine((error as Error).message)}`);
    return null;
  }
}

function note(notes: string[], text: string): void {
  notes.push(text);
  log(text);
}

async function warmUpAll(targets: readonly BenchTarget[], config: BenchConfig, echoBody: Buffer): Promise<void> {
  for (const target of targets) {
    log(`warming up ${target.name} (${config.warmupSec} s)`);
    await warmUp(target, config.warmupSec, echoBody);
  }
}

/** Round r runs every target back to back, so that machine drift hits them alike. */
async function runRounds(targets: readonly BenchTarget[], config: BenchConfig, echoBody: Buffer): Promise<TargetRound[][]> {
  const plan: RoundPlan = { getDurationSec: config.getDurationSec, echoBody, streamBytes: config.streamBytes };
  const rounds: TargetRound[][] = [];
  for (let round = 1; round <= config.rounds; round++) {
    const results: TargetRound[] = [];
    for (const target of targets) {
      const roundStartedAt = performance.now();
      results.push(await measureTarget(target, plan));
      log(`round ${round}/${config.rounds}: ${target.name} done in ${((performance.now() - roundStartedAt) / 1000).toFixed(1)} s`);
    }
    rounds.push(results);
    log(`\nround ${round}:\n${renderComparisonTable([results], config)}\n`);
  }
  return rounds;
}

async function runIdleTunnels(config: BenchConfig): Promise<Measured<IdleResult>> {
  log(`idle: ${config.idleTunnels} tunnels × ${config.idlePollsEach} polls, ${config.idleRestSec} s at rest`);
  try {
    const value = await measureIdleTunnels({
      standinBin: config.standinBin,
      tunnels: config.idleTunnels,
      pollsEach: config.idlePollsEach,
      restSec: config.idleRestSec,
    });
    return { ok: true, value };
  } catch (error) {
    log(`idle tunnels failed: ${(error as Error).message}`);
    return { ok: false, error: oneLine((error as Error).message) };
  }
}

/** A multi-line error (with a child's last output) as one line for a markdown list or cell. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' / ').slice(0, 600);
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function abortRun(reason: string): never {
  process.stderr.write(`standin bench: ${reason}; stopping every child process\n`);
  killAllChildren();
  process.exit(1);
}

process.on('SIGINT', () => abortRun('interrupted'));
process.on('SIGTERM', () => abortRun('terminated'));
process.on('exit', killAllChildren);

main().catch((error: unknown) => {
  process.stderr.write(`standin bench failed: ${(error as Error).stack ?? String(error)}\n`);
  killAllChildren();
  process.exit(1);
});
