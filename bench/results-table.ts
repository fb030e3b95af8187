import { BenchConfig } from './bench-config';
import { MachineInfo } from './machine-info';
import { Measured, TargetName, TargetRound, TARGET_NAMES } from './measure-target';

/** Rounds of every target: rounds[r] holds what round r measured, in run order. */
export type RoundResults = readonly (readonly TargetRound[])[];

/** One row of the results table: how to read it from a target's round, and how to show it. */
interface Figure {
  readonly label: string;
  read(round: TargetRound): number | null;
  format(value: number): string;
  /** False for counts and yes/no figures, where a ratio means nothing; those show the worst round. */
  readonly hasRatio: boolean;
  /** For figures without a ratio: which round is the worst, the lowest (yes/no) or the highest (errors). */
  readonly worst?: 'lowest' | 'highest';
}

const MIB = 1024 * 1024;

function value<T>(measured: Measured<T>): T | null {
  return measured.ok ? measured.value : null;
}

const integer = (n: number): string => Math.round(n).toLocaleString('en-US');
const decimal = (n: number): string => (n >= 100 ? integer(n) : n.toFixed(n >= 10 ? 1 : n >= 1 ? 2 : 3));
const yesNo = (n: number): string => (n === 1 ? 'yes' : '**NO**');

function getFigures(key: 'get1' | 'get32', concurrency: number): Figure[] {
  const label = (what: string): string => `GET small, c=${concurrency}: ${what}`;
  return [
    { label: label('requests/s'), read: (r) => value(r[key])?.requestsPerSec ?? null, format: integer, hasRatio: true },
    { label: label('p50 ms'), read: (r) => value(r[key])?.p50Ms ?? null, format: decimal, hasRatio: true },
    { label: label('p99 ms'), read: (r) => value(r[key])?.p99Ms ?? null, format: decimal, hasRatio: true },
    { label: label('errors'), read: (r) => value(r[key])?.errors ?? null, format: integer, hasRatio: false, worst: 'highest' },
    { label: label('hop CPU µs/request'), read: (r) => value(r[key])?.hopCpuMicrosPerRequest ?? null, format: integer, hasRatio: true },
  ];
}

function transferFigures(key: 'download' | 'upload', label: string): Figure[] {
  return [
    { label: `${label}: MiB/s`, read: (r) => value(r[key])?.mibPerSec ?? null, format: integer, hasRatio: true },
    { label: `${label}: all bytes arrived`, read: (r) => flag(value(r[key])?.intact), format: yesNo, hasRatio: false, worst: 'lowest' },
    {
      label: `${label}: peak RSS of hops, MiB (sampled every 100 ms)`,
      read: (r) => {
        const memory = value(r[key])?.memory;
        return memory?.length ? memory.reduce((sum, m) => sum + m.peakRssKiB, 0) / 1024 : null;
      },
      format: integer,
      hasRatio: true,
    },
    {
      // Flat memory means this stays near 0 whatever the size; the peak above also holds what
      // earlier measurements (the 50 MiB echo) left in the heap.
      label: `${label}: growth of hop RSS during the transfer, MiB`,
      read: (r) => {
        const memory = value(r[key])?.memory;
        return memory?.length ? memory.reduce((sum, m) => sum + Math.max(0, m.peakRssKiB - m.startRssKiB), 0) / 1024 : null;
      },
      format: integer,
      hasRatio: false,
      worst: 'highest',
    },
  ];
}

function flag(intact: boolean | undefined): number | null {
  return intact === undefined ? null : intact ? 1 : 0;
}

function echoFigures(echoBytes: number): Figure[] {
  const label = `POST ${echoBytes / MIB} MiB, echoed back`;
  return [
    { label: `${label}: ms`, read: (r) => value(r.echo)?.durationMs ?? null, format: integer, hasRatio: true },
    { label: `${label}: body intact (SHA-256)`, read: (r) => flag(value(r.echo)?.intact), format: yesNo, hasRatio: false, worst: 'lowest' },
  ];
}

function allFigures(config: BenchConfig): Figure[] {
  const streamLabel = (direction: string): string => `${direction} ${formatBytes(config.streamBytes)} streamed`;
  return [
    ...getFigures('get1', 1),
    ...getFigures('get32', 32),
    ...echoFigures(config.echoBytes),
    ...transferFigures('download', streamLabel('GET')),
    ...transferFigures('upload', streamLabel('POST')),
  ];
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * MIB && bytes % (1024 * MIB) === 0 ? `${bytes / (1024 * MIB)} GiB` : `${bytes / MIB} MiB`;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function roundOf(round: readonly TargetRound[], target: TargetName): TargetRound | undefined {
  return round.find((entry) => entry.target === target);
}

/**
 * The ratio of `target` to `reference` for one figure: computed within each round (so drift
 * between rounds cancels), then the median over rounds.
 */
function medianRatio(rounds: RoundResults, figure: Figure, target: TargetName, reference: TargetName): number | null {
  const ratios: number[] = [];
  for (const round of rounds) {
    const mine = roundOf(round, target);
    const theirs = roundOf(round, reference);
    const a = mine ? figure.read(mine) : null;
    const b = theirs ? figure.read(theirs) : null;
    if (a !== null && b !== null && b > 0) ratios.push(a / b);
  }
  return median(ratios);
}

function cell(rounds: RoundResults, figure: Figure, target: TargetName): string {
  const values = rounds.flatMap((round) => {
    const entry = roundOf(round, target);
    const read = entry ? figure.read(entry) : null;
    return read === null ? [] : [read];
  });
  const middle = median(values);
  if (middle === null) return failureText(rounds, target);
  if (!figure.hasRatio) return figure.format(figure.worst === 'highest' ? Math.max(...values) : Math.min(...values));
  const ratios = (['direct', 'node-proxy'] as const)
    .filter((reference) => reference !== target)
    .map((reference) => {
      const ratio = medianRatio(rounds, figure, target, reference);
      return ratio === null ? null : `${ratio.toFixed(2)}× ${reference === 'direct' ? 'direct' : 'proxy'}`;
    })
    .filter((text): text is string => text !== null);
  return ratios.length ? `${figure.format(middle)} (${ratios.join(', ')})` : figure.format(middle);
}

function failureText(rounds: RoundResults, target: TargetName): string {
  const entries = rounds.map((round) => roundOf(round, target)).filter((entry) => entry !== undefined);
  if (entries.length === 0) return '–';
  for (const entry of entries) {
    for (const measured of [entry.get1, entry.get32, entry.echo, entry.download, entry.upload]) {
      if (!measured.ok) return `failed: ${measured.error.replace(/\s+/g, ' ').replace(/\|/g, '/').slice(0, 80)}`;
    }
  }
  return 'n/a';
}

/** The targets that ran at least once, in round order. */
function presentTargets(rounds: RoundResults): TargetName[] {
  return TARGET_NAMES.filter((name) => rounds.some((round) => roundOf(round, name)));
}

/**
 * The comparison table: per figure, the median over rounds for each target, with its ratio to
 * direct and to the Node proxy (each ratio taken within a round, then the median).
 */
export function renderComparisonTable(rounds: RoundResults, config: BenchConfig): string {
  const targets = presentTargets(rounds);
  const lines = [
    `| figure | ${targets.join(' | ')} |`,
    `|---|${targets.map(() => '---').join('|')}|`,
    ...allFigures(config).map((figure) => `| ${figure.label} | ${targets.map((t) => cell(rounds, figure, t)).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** Per-process memory during the streamed transfers, worst round, plus the lifetime high-water mark. */
export function renderMemoryTable(rounds: RoundResults): string {
  const rows: string[] = [];
  for (const target of presentTargets(rounds)) {
    const roles = new Map<string, { download: number; upload: number; growth: number; hwm: number }>();
    for (const round of rounds) {
      const entry = roundOf(round, target);
      for (const key of ['download', 'upload'] as const) {
        for (const memory of (entry && value(entry[key])?.memory) ?? []) {
          const row = roles.get(memory.role) ?? { download: 0, upload: 0, growth: 0, hwm: 0 };
          row[key] = Math.max(row[key], memory.peakRssKiB);
          row.growth = Math.max(row.growth, memory.peakRssKiB - memory.startRssKiB);
          row.hwm = Math.max(row.hwm, memory.hwmKiB);
          roles.set(memory.role, row);
        }
      }
    }
    for (const [role, row] of roles) {
      rows.push(
        `| ${target} | ${role} | ${mib(row.download)} | ${mib(row.upload)} | ${(row.growth / 1024).toFixed(0)} | ${mib(row.hwm)} |`,
      );
    }
  }
  if (rows.length === 0) return '_No hop processes measured._';
  return [
    '| target | process | peak RSS during GET stream, MiB | during POST stream, MiB | largest growth during a stream, MiB | VmHWM (lifetime), MiB |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** CPU per request of each hop process (median over rounds), at both concurrencies. */
export function renderCpuTable(rounds: RoundResults): string {
  const rows: string[] = [];
  for (const target of presentTargets(rounds)) {
    const roles = new Set(
      rounds.flatMap((round) => Object.keys(value(roundOf(round, target)?.get1 ?? failed)?.cpuMicrosPerRequestByRole ?? {})),
    );
    for (const role of roles) {
      const perRequest = (key: 'get1' | 'get32'): string => {
        const values = rounds.flatMap((round) => {
          const micros = value(roundOf(round, target)?.[key] ?? failed)?.cpuMicrosPerRequestByRole[role];
          return micros === undefined ? [] : [micros];
        });
        const middle = median(values);
        return middle === null ? '–' : integer(middle);
      };
      rows.push(`| ${target} | ${role} | ${perRequest('get1')} | ${perRequest('get32')} |`);
    }
  }
  if (rows.length === 0) return '_No hop processes measured._';
  return [
    '| target | process (app: not a hop, for reference) | CPU µs/request, c=1 | CPU µs/request, c=32 |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}

const failed: Measured<never> = { ok: false, error: 'not run' };

function mib(kib: number): string {
  return kib ? (kib / 1024).toFixed(0) : '–';
}

/** What the idle-tunnels measurement found. */
export interface IdleResult {
  readonly tunnels: number;
  readonly pollsEach: number;
  readonly registrationMs: number;
  readonly pollsInFlight: number;
  readonly rssEmptyKiB: number;
  readonly rssAtRestKiB: number;
  readonly restSec: number;
  /** Server CPU during the rest window, as a share of one core. */
  readonly cpuShareOfCore: number;
  readonly emptyPollAnswers: number;
  readonly requestsAnswered: number;
  readonly failures: number;
  readonly lastFailure: string | null;
}

/** The idle-tunnels section: server memory and CPU with many parked polls. */
export function renderIdleSection(idle: Measured<IdleResult> | null): string {
  if (idle === null) return '_Not run (standin not built, or --idle-tunnels 0)._';
  if (!idle.ok) return `_Failed: ${idle.error}_`;
  const r = idle.value;
  return [
    `| figure | value |`,
    `|---|---|`,
    `| tunnels registered × polls each | ${r.tunnels} × ${r.pollsEach} (${r.pollsInFlight} polls in flight at the end) |`,
    `| registration time | ${integer(r.registrationMs)} ms |`,
    `| server RSS, empty | ${mib(r.rssEmptyKiB)} MiB |`,
    `| server RSS, all polls parked | ${mib(r.rssAtRestKiB)} MiB (${((r.rssAtRestKiB - r.rssEmptyKiB) / Math.max(1, r.tunnels)).toFixed(1)} KiB per tunnel) |`,
    `| server CPU at rest over ${r.restSec} s | ${(r.cpuShareOfCore * 100).toFixed(2)} % of one core |`,
    `| polls answered 204 (timed out) during the run | ${r.emptyPollAnswers} |`,
    `| requests pushed to idle tunnels (answered 200) | ${r.requestsAnswered} |`,
    `| poll failures | ${r.failures}${r.lastFailure ? ` (last: ${r.lastFailure.replace(/\|/g, '/').slice(0, 120)})` : ''} |`,
  ].join('\n');
}

/** Everything RESULTS.md says, from the header to the per-round figures. */
export interface ResultsReport {
  readonly config: BenchConfig;
  readonly machine: MachineInfo;
  readonly rounds: RoundResults;
  readonly idle: Measured<IdleResult> | null;
  readonly notes: readonly string[];
  readonly elapsedSec: number;
}

/** Renders RESULTS.md. */
export function renderResultsMarkdown(report: ResultsReport): string {
  const { config, machine, rounds } = report;
  return `# standin benchmark results

- Command: \`${config.command}\` (${config.rounds} interleaved round${config.rounds === 1 ? '' : 's'}, ${config.getDurationSec} s per GET load; took ${Math.round(report.elapsedSec)} s)
- Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.kernel}
- Node: ${machine.nodeVersion}
- Date: ${machine.date}
- Load generator: autocannon in the benchmark process, on the same machine as everything else (loopback only).
${report.notes.map((note) => `- ${note}\n`).join('')}
Each cell is the median over rounds (errors: the worst round; yes/no: "yes" only if every round passed); the ratios in parentheses are taken within each round (target ÷
direct, target ÷ Node proxy) and then the median, so that drift between rounds cancels. "Hops" are
the processes between the load generator and the app: none for direct, the proxy process for
node-proxy and nginx, server + client for standin.

## Comparison

${renderComparisonTable(rounds, config)}

## CPU per request, by process

${renderCpuTable(rounds)}

## Memory during the streamed transfers, by process

${renderMemoryTable(rounds)}

## ${config.idleTunnels} idle tunnels on one server

${renderIdleSection(report.idle)}
`;
}
