/** Helpers for tests of the request inspector and the client's request log. */

import fs from 'node:fs';
import { eventually } from './http';

/** A port range start for one test file's inspectors, so parallel test files do not collide. */
export function inspectPortBase(): number {
  return 41_000 + Math.floor(Math.random() * 400) * 20;
}

/** The JSON lines of an NDJSON file (empty when it does not exist yet). */
export function readNdjson(path: string): Record<string, unknown>[] {
  if (!fs.existsSync(path)) return [];
  return fs
    .readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Waits (bounded) for an NDJSON line that matches. */
export async function waitForNdjsonLine(path: string, matches: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await eventually(() => (found = readNdjson(path).find(matches)) !== undefined, timeoutMs);
  return found!;
}
