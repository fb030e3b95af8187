import { EchoResult, GetLoadResult, postEcho, runGetLoad, streamDownload, streamUpload, TransferResult } from './load';
import { MeasuredProcess, PeakMemory, readCpuMicros, RssSampler } from './process-stats';

/** The ways to reach the target app that the benchmark compares, in the order a round runs them. */
export const TARGET_NAMES = ['direct', 'node-proxy', 'nginx', 'standin', 'standin-replicas'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** One way to reach the target app, and the processes in between whose cost it measures. */
export interface BenchTarget {
  readonly name: TargetName;
  readonly url: string;
  /** The processes between load generator and app (none for direct). */
  readonly hops: readonly MeasuredProcess[];
  /** The target app itself: its CPU per request is the reference for what one Node HTTP server costs here. */
  readonly app: MeasuredProcess;
}

/** A measurement, or why it could not be made (a broken target must not end the whole run). */
export type Measured<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** GET load figures plus the CPU the hop processes spent per request. */
export interface GetFigures extends GetLoadResult {
  /** CPU of all hop processes per completed request, in µs; null for direct. */
  readonly hopCpuMicrosPerRequest: number | null;
  /** CPU per completed request of each hop and of the app, in µs. */
  readonly cpuMicrosPerRequestByRole: Readonly<Record<string, number>>;
}

/** A streamed transfer plus the memory of the hop processes while it ran. */
export interface TransferFigures extends TransferResult {
  readonly memory: readonly PeakMemory[];
}

/** Everything measured for one target in one round. */
export interface TargetRound {
  readonly target: TargetName;
  readonly get1: Measured<GetFigures>;
  readonly get32: Measured<GetFigures>;
  readonly echo: Measured<EchoResult>;
  readonly download: Measured<TransferFigures>;
  readonly upload: Measured<TransferFigures>;
}

/** Sizes and durations of one round's measurements. */
export interface RoundPlan {
  readonly getDurationSec: number;
  readonly echoBody: Buffer;
  readonly streamBytes: number;
}

/** Runs one round's measurements against one target, one after the other. */
export async function measureTarget(target: BenchTarget, plan: RoundPlan): Promise<TargetRound> {
  const get1 = await attempt(() => measureGetLoad(target, 1, plan.getDurationSec));
  const get32 = await attempt(() => measureGetLoad(target, 32, plan.getDurationSec));
  const echo = await attempt(() => postEcho(target.url, plan.echoBody, transferTimeoutMs(plan.echoBody.length)));
  const download = await attempt(() =>
    measureTransfer(target, () => streamDownload(target.url, plan.streamBytes, transferTimeoutMs(plan.streamBytes))),
  );
  const upload = await attempt(() =>
    measureTransfer(target, () => streamUpload(target.url, plan.streamBytes, transferTimeoutMs(plan.streamBytes))),
  );
  return { target: target.name, get1, get32, echo, download, upload };
}

/**
 * Warms the JIT, connection pools and heaps (one echo grows them to their working size) of a
 * target, so that round 1 is not penalised for whatever goes first.
 */
export async function warmUp(target: BenchTarget, durationSec: number, echoBody: Buffer): Promise<void> {
  await runGetLoad(target.url, 32, durationSec);
  await postEcho(target.url, echoBody, transferTimeoutMs(echoBody.length));
}

/**
 * Bound for one transfer: generous (10 MiB/s, at least 30 s) so that a slow but working path is
 * measured, and a stuck one is reported as failed instead of hanging the run.
 */
function transferTimeoutMs(bytes: number): number {
  return Math.max(30_000, (bytes / (10 * 1024 * 1024)) * 1000);
}

async function attempt<T>(measure: () => Promise<T>): Promise<Measured<T>> {
  try {
    return { ok: true, value: await measure() };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

async function measureGetLoad(target: BenchTarget, connections: number, durationSec: number): Promise<GetFigures> {
  const processes = [...target.hops, target.app];
  const cpuBefore = processes.map((process) => readCpuMicros(process.pid));
  const load = await runGetLoad(target.url, connections, durationSec);
  const perRequest = processes.map((process, index) => (readCpuMicros(process.pid) - cpuBefore[index]) / Math.max(1, load.requests));
  const hopPerRequest = perRequest.slice(0, target.hops.length);
  return {
    ...load,
    hopCpuMicrosPerRequest: target.hops.length ? hopPerRequest.reduce((sum, micros) => sum + micros, 0) : null,
    cpuMicrosPerRequestByRole: Object.fromEntries(processes.map((process, index) => [process.role, perRequest[index]])),
  };
}

async function measureTransfer(target: BenchTarget, transfer: () => Promise<TransferResult>): Promise<TransferFigures> {
  const sampler = new RssSampler(target.hops, 100);
  let result: TransferResult;
  try {
    result = await transfer();
  } catch (error) {
    sampler.cancel();
    throw error;
  }
  return { ...result, memory: sampler.stop() };
}
