/** Helpers for tests of the request inspector and the client's request log. */

import fs from 'node:fs';
import net from 'node:net';
import { eventually } from './http';

/**
 * A start port for one test file's inspectors whose next 10 ports are free right now: explicit
 * ports keep parallel test files (and other clients on 4040) from taking each other's.
 */
export async function inspectPortBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 61_000 + Math.floor(Math.random() * 400) * 10;
    const free = await Promise.all(Array.from({ length: 10 }, (_, i) => isFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no 10 free ports in a row found for the inspector');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
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
export async function waitForNdjsonLine(
  path: string,
  matches: (line: Record<string, unknown>) => boolean,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await eventually(() => (found = readNdjson(path).find(matches)) !== undefined, timeoutMs);
  return found!;
}
