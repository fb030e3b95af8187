import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (almost always 100). */
const CLOCK_TICKS_PER_SECOND = readClockTicksPerSecond();

function readClockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** CPU time (user + system) a process has used so far, in microseconds. */
export function readCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) is in parentheses and may contain spaces, so count fields after the last ')'.
  // After it come field 3 (state) onwards; utime and stime are fields 14 and 15 (proc(5)).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utimeTicks = Number(fields[14 - 3]);
  const stimeTicks = Number(fields[15 - 3]);
  return ((utimeTicks + stimeTicks) * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size now and its high-water mark, from /proc/<pid>/status. */
export interface MemorySample {
  readonly rssKiB: number;
  readonly hwmKiB: number;
}

/** Reads VmRSS and VmHWM of a process (both reported by the kernel in kB). */
export function readMemory(pid: number): MemorySample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssKiB: statusFieldKiB(status, 'VmRSS'), hwmKiB: statusFieldKiB(status, 'VmHWM') };
}

/** Like readMemory, but null when the process has exited (a crash is reported elsewhere). */
export function readMemoryIfRunning(pid: number): MemorySample | null {
  try {
    return readMemory(pid);
  } catch {
    return null;
  }
}

function statusFieldKiB(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

/** A process whose CPU and memory the benchmark attributes to one role (e.g. "server"). */
export interface MeasuredProcess {
  readonly role: string;
  readonly pid: number;
}

/** Peak memory of one process over a sampling window. */
export interface PeakMemory {
  readonly role: string;
  /** RSS when sampling started: the peak minus this is what the window itself cost. */
  readonly startRssKiB: number;
  readonly peakRssKiB: number;
  readonly hwmKiB: number;
}

/**
 * Samples VmRSS of some processes every `intervalMs` until stopped. The kernel's VmHWM covers
 * the whole life of a process; the sampled peak covers just this window, which is what shows
 * whether one 1 GiB transfer kept memory flat.
 */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private readonly starts = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly processes: readonly MeasuredProcess[],
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Stops sampling and returns each process's peak RSS and its lifetime high-water mark. */
  stop(): PeakMemory[] {
    clearInterval(this.timer);
    this.sample();
    return this.processes.map((process) => ({
      role: process.role,
      startRssKiB: this.starts.get(process.role) ?? 0,
      peakRssKiB: this.peaks.get(process.role) ?? 0,
      hwmKiB: readMemoryIfRunning(process.pid)?.hwmKiB ?? 0,
    }));
  }

  /** Stops sampling without reading anything more (for when the measurement failed). */
  cancel(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    for (const process of this.processes) {
      const rssKiB = readMemoryIfRunning(process.pid)?.rssKiB ?? 0;
      if (!this.starts.has(process.role)) this.starts.set(process.role, rssKiB);
      this.peaks.set(process.role, Math.max(this.peaks.get(process.role) ?? 0, rssKiB));
    }
  }
}
