import { cpus, release, totalmem } from 'node:os';

/** Where and when a benchmark ran, for the header of RESULTS.md. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly nodeVersion: string;
  readonly date: string;
}

/** Describes this machine and Node version now. */
export function describeMachine(): MachineInfo {
  const processors = cpus();
  return {
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    cores: processors.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: `Linux ${release()}`,
    nodeVersion: process.version,
    date: new Date().toISOString(),
  };
}
