/**
 * Durations as the CLI takes them: `500ms`, `25s`, `10m`, `12h`, `7d`. The unit is required:
 * `--max-ttl 12` meaning 12 seconds surprised everyone who meant hours.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration into milliseconds, or returns undefined when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]]);
}

/** The error message for a `--flag` value that is not a duration, suggesting units for a bare number. */
export function durationError(flag: string, text: string): string {
  const bare = /^\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  if (bare) return `--${flag} "${text}" has no unit: write ${bare[1]}s, ${bare[1]}m or ${bare[1]}h`;
  return `--${flag} "${text}" is not a duration like 500ms, 25s, 10m or 12h`;
}

/** Formats milliseconds for people: `45s`, `3h 12m`. */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.round(ms / 1_000));
  const hours = Math.floor(totalSeconds / 3_600);
  const minutes = Math.floor((totalSeconds % 3_600) / 60);
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${totalSeconds % 60}s`;
  return `${totalSeconds}s`;
}
