/**
 * Turns yargs' usage errors into messages a person can act on: the flag they probably meant,
 * what `standin connect` needs as its target, which env var fills a required flag.
 */

/** What yargs said, what was typed, and the flags the chosen command knows. */
export interface UsageProblem {
  yargsMessage: string;
  /** The command line after `standin`. */
  args: readonly string[];
  /** The subcommand, when one was recognised. */
  command: string | undefined;
  /** Flags of that command, without dashes. */
  knownFlags: readonly string[];
}

/** A message for a usage error, in plain words. */
export function explainUsageError(problem: UsageProblem): string {
  const unknown = unknownFlags(problem.args, problem.knownFlags);
  if (unknown.length > 0) return unknown.map((flag) => describeUnknownFlag(flag, problem.knownFlags)).join('\n');
  const missing = /^Missing required arguments?: (.+)$/.exec(problem.yargsMessage.split('\n')[0]);
  if (missing) {
    return missing[1]
      .split(', ')
      .map(
        (flag) =>
          `--${flag} is required (or set ${envName(flag)})${flag === 'server' ? ', e.g. --server https://standin.test.example.com' : ''}`,
      )
      .join('\n');
  }
  if (problem.command === 'connect' && /^Not enough non-option arguments/.test(problem.yargsMessage)) {
    return 'standin connect needs the app to forward to: a port (standin connect 3000) or a URL (standin connect https://localhost:5173)';
  }
  const typed = problem.args.find((arg) => !arg.startsWith('-'));
  if (problem.command === undefined && typed !== undefined) {
    const suggestion = closest(typed, ['server', 'connect', 'status']);
    return `unknown command "${typed}"${suggestion ? `: did you mean "standin ${suggestion}"?` : ': the commands are server, connect and status'}`;
  }
  return problem.yargsMessage;
}

/** The env var that fills `--<flag>`: STANDIN_ and the flag in upper snake case. */
export function envName(flag: string): string {
  return `STANDIN_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** `--flags` on the command line that the command does not know (`--no-x` counts as `--x`). */
function unknownFlags(args: readonly string[], knownFlags: readonly string[]): string[] {
  if (knownFlags.length === 0) return [];
  const known = new Set(knownFlags);
  const unknown: string[] = [];
  for (const arg of args) {
    if (arg === '--') break;
    const match = /^--?([^=]+)/.exec(arg);
    if (!match || /^-\d/.test(arg)) continue;
    const flag = match[1];
    const plain = flag.startsWith('no-') ? flag.slice(3) : flag;
    if (!known.has(flag) && !known.has(plain) && !known.has(camelToKebab(flag))) unknown.push(flag);
  }
  return unknown;
}

function describeUnknownFlag(flag: string, knownFlags: readonly string[]): string {
  const suggestion = closest(flag, knownFlags);
  return `unknown flag --${flag}${suggestion ? `: did you mean --${suggestion}?` : ''}`;
}

/** The candidate within a few edits of `typed`, if one is clearly closest. */
function closest(typed: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(typed.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(typed.length / 3)) ? best : undefined;
}

/** Levenshtein distance, with rows of the shorter word's length. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

function camelToKebab(flag: string): string {
  return flag.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
