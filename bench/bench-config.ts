import { resolve } from 'node:path';

/** What one `npm run bench` does; resolved once from the command line. */
export interface BenchConfig {
  readonly quick: boolean;
  /** Interleaved rounds: each runs every target back to back, so drift hits all alike. */
  readonly rounds: number;
  /** Length of each GET load (per concurrency, per target, per round). */
  readonly getDurationSec: number;
  readonly warmupSec: number;
  readonly echoBytes: number;
  readonly streamBytes: number;
  readonly idleTunnels: number;
  readonly idlePollsEach: number;
  /** How long the idle server's CPU is measured once all polls are parked. */
  readonly idleRestSec: number;
  readonly useNginx: boolean;
  readonly standinBin: string;
  readonly resultsPath: string;
  /** Hard bound on the whole run: past it the benchmark kills its children and exits 1. */
  readonly maxRunMs: number;
  /** The command line, as written into RESULTS.md. */
  readonly command: string;
}

const MIB = 1024 * 1024;

const USAGE = `usage: npm run bench -- [options]
  --quick               one short round, 256 MiB streams, 10 s idle window (about 2 minutes)
  --rounds <n>          interleaved rounds (default 3; quick 1)
  --duration <s>        seconds per GET load (default 5; quick 2)
  --stream-mib <n>      size of the streamed download and upload (default 1024; quick 256)
  --idle-tunnels <n>    idle tunnels on one server, 0 to skip (default 1000)
  --no-nginx            skip the nginx baseline even when nginx is installed
  --out <file>          where to write the markdown results (default bench/RESULTS.md)
environment: STANDIN_BIN=<path to standin.js> (default dist/bin/standin.js of this checkout)`;

/** Thrown for a bad command line; the entry point prints it with the usage and exits 2. */
export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
  readonly usage = USAGE;
}

/** Parses `process.argv.slice(2)`-style arguments into a frozen config. */
export function parseBenchConfig(args: readonly string[], env: NodeJS.ProcessEnv): BenchConfig {
  const flags = readFlags(args);
  const quick = flags.has('quick');
  const repoRoot = resolve(__dirname, '..', '..');
  return Object.freeze({
    quick,
    rounds: positiveInteger(flags, 'rounds', quick ? 1 : 3),
    getDurationSec: positiveInteger(flags, 'duration', quick ? 2 : 5),
    warmupSec: quick ? 1 : 2,
    echoBytes: 50 * MIB,
    streamBytes: positiveInteger(flags, 'stream-mib', quick ? 256 : 1024) * MIB,
    idleTunnels: nonNegativeInteger(flags, 'idle-tunnels', 1000),
    idlePollsEach: 8,
    idleRestSec: quick ? 10 : 30,
    useNginx: !flags.has('no-nginx'),
    standinBin: resolve(env.STANDIN_BIN ?? resolve(repoRoot, 'dist', 'bin', 'standin.js')),
    resultsPath: resolve(flags.get('out') ?? resolve(repoRoot, 'bench', 'RESULTS.md')),
    maxRunMs: (quick ? 4 : 15) * 60_000,
    command: ['npm run bench', ...(args.length ? ['--', ...args] : [])].join(' '),
  });
}

const BOOLEAN_FLAGS = new Set(['quick', 'no-nginx', 'help']);
const VALUE_FLAGS = new Set(['rounds', 'duration', 'stream-mib', 'idle-tunnels', 'out']);

function readFlags(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let index = 0; index < args.length; index++) {
    const [name, inlineValue] = args[index].replace(/^--/, '').split(/=(.*)/s, 2);
    if (!args[index].startsWith('--')) throw new BenchUsageError(`unexpected argument ${args[index]}`);
    if (BOOLEAN_FLAGS.has(name)) {
      flags.set(name, 'true');
    } else if (VALUE_FLAGS.has(name)) {
      const value = inlineValue ?? args[++index];
      if (value === undefined) throw new BenchUsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new BenchUsageError(`unknown option --${name}`);
    }
  }
  if (flags.has('help')) throw new BenchUsageError('help');
  return flags;
}

function nonNegativeInteger(flags: Map<string, string>, name: string, fallback: number): number {
  const text = flags.get(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new BenchUsageError(`--${name} must be a whole number, got ${text}`);
  return value;
}

function positiveInteger(flags: Map<string, string>, name: string, fallback: number): number {
  const value = nonNegativeInteger(flags, name, fallback);
  if (value === 0) throw new BenchUsageError(`--${name} must be at least 1`);
  return value;
}
