/**
 * What differs between two responses, for "Compare with the cluster": status, headers by name,
 * and the bodies as a JSON diff (paths whose values differ) when both are JSON, else as a line
 * diff of the text, else just "equal or not" for bytes. Every part is bounded: the page shows a
 * diff, not a report of a million changes.
 */

import zlib from 'node:zlib';
import { getHeader, HOP_BY_HOP_HEADERS } from '#shared/http-headers';
import type { RawHeaders } from '#shared/protocol/messages';

/** One side of a comparison: the response as received (body possibly cut). */
export interface ComparedResponse {
  status: number;
  headers: RawHeaders;
  body: Buffer;
  /** The body was longer than `body`. */
  truncated: boolean;
}

/** A header whose values differ; `null` where a side does not have it. */
export interface HeaderDifference {
  name: string;
  local: string | null;
  cluster: string | null;
  /** Differs on every request (Date, request ids): shown, but not a real difference. */
  expected: boolean;
}

export type BodyDifference =
  | { kind: 'same' }
  | { kind: 'json'; changes: JsonChange[]; more: boolean }
  | { kind: 'text'; lines: LineChange[]; more: boolean }
  | { kind: 'binary'; localBytes: number; clusterBytes: number };

/** A value at `path` (like `$.items[0].price`); `undefined` on a side where it is missing. */
export interface JsonChange {
  path: string;
  local?: unknown;
  cluster?: unknown;
}

/** A line of a unified line diff: in both, only local, or only the cluster's. */
export interface LineChange {
  op: 'same' | 'local' | 'cluster';
  text: string;
}

/** The differences, each part empty when equal. */
export interface ResponseDifferences {
  status: boolean;
  headers: HeaderDifference[];
  body: BodyDifference;
}

/** Headers that differ between any two requests and say nothing about the app. */
const EXPECTED_TO_DIFFER = new Set(['date', 'x-standin-request-id', 'x-request-id', 'traceparent', 'x-standin-fallback', 'age']);

const MAX_JSON_CHANGES = 200;
const MAX_DIFF_LINES = 2_000;
/** Lines each side may have in the changed middle for an exact line diff (the table is their product). */
const MAX_LCS_LINES = 1_500;
const MAX_DECODED_BYTES = 1024 * 1024;

/** Compares the local app's response with the cluster's. */
export function diffResponses(local: ComparedResponse, cluster: ComparedResponse): ResponseDifferences {
  return {
    status: local.status !== cluster.status,
    headers: diffHeaders(local.headers, cluster.headers),
    body: diffBodies(local, cluster),
  };
}

/** Headers by lower-case name (several values joined with ", "), hop-by-hop ones left out. */
export function diffHeaders(local: RawHeaders, cluster: RawHeaders): HeaderDifference[] {
  const localValues = headerMap(local);
  const clusterValues = headerMap(cluster);
  const names = [...new Set([...localValues.keys(), ...clusterValues.keys()])].sort();
  return names
    .filter((name) => localValues.get(name) !== clusterValues.get(name))
    .map((name) => ({
      name,
      local: localValues.get(name) ?? null,
      cluster: clusterValues.get(name) ?? null,
      expected: EXPECTED_TO_DIFFER.has(name),
    }));
}

function headerMap(headers: RawHeaders): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i].toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(name)) continue;
    map.set(name, map.has(name) ? `${map.get(name)}, ${headers[i + 1]}` : headers[i + 1]);
  }
  return map;
}

/** The bodies compared as JSON, text or bytes, after undoing a Content-Encoding (gzip, br, deflate). */
export function diffBodies(local: ComparedResponse, cluster: ComparedResponse): BodyDifference {
  const localBody = decodedBody(local);
  const clusterBody = decodedBody(cluster);
  if (localBody.equals(clusterBody)) return { kind: 'same' };
  const localJson = parseJson(localBody);
  const clusterJson = parseJson(clusterBody);
  if (localJson.ok && clusterJson.ok) {
    const changes: JsonChange[] = [];
    diffJson(localJson.value, clusterJson.value, '$', changes);
    return { kind: 'json', changes: changes.slice(0, MAX_JSON_CHANGES), more: changes.length > MAX_JSON_CHANGES };
  }
  if (isText(localBody) && isText(clusterBody)) {
    const lines = diffLines(localBody.toString('utf8').split('\n'), clusterBody.toString('utf8').split('\n'));
    return { kind: 'text', lines: lines.slice(0, MAX_DIFF_LINES), more: lines.length > MAX_DIFF_LINES };
  }
  return { kind: 'binary', localBytes: localBody.length, clusterBytes: clusterBody.length };
}

/** The body as the app meant it: decompressed when whole and encoded, else as received. */
export function decodedBody(response: ComparedResponse): Buffer {
  const encoding = getHeader(response.headers, 'content-encoding')?.trim().toLowerCase();
  if (!encoding || encoding === 'identity' || response.truncated) return response.body;
  const options = { maxOutputLength: MAX_DECODED_BYTES };
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return zlib.gunzipSync(response.body, options);
    if (encoding === 'br') return zlib.brotliDecompressSync(response.body, options);
    if (encoding === 'deflate') return zlib.inflateSync(response.body, options);
  } catch {
    // Not what the header says, or too large: compare the bytes as they came.
  }
  return response.body;
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  if (body.length === 0) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

function isText(body: Buffer): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x08\x0e-\x1f]/.test(body.toString('latin1')) && Buffer.from(body.toString('utf8'), 'utf8').equals(body);
}

/** Collects the paths where `a` and `b` differ (stops collecting past the bound). */
function diffJson(a: unknown, b: unknown, path: string, changes: JsonChange[]): void {
  if (changes.length > MAX_JSON_CHANGES) return;
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const childPath = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      if (!Object.hasOwn(b, key)) changes.push({ path: childPath, local: a[key] });
      else if (!Object.hasOwn(a, key)) changes.push({ path: childPath, cluster: b[key] });
      else diffJson(a[key], b[key], childPath, changes);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= b.length) changes.push({ path: `${path}[${i}]`, local: a[i] });
      else if (i >= a.length) changes.push({ path: `${path}[${i}]`, cluster: b[i] });
      else diffJson(a[i], b[i], `${path}[${i}]`, changes);
    }
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) changes.push({ path, local: a, cluster: b });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A line diff: the common start and end are kept as they are, the middle gets a longest common
 * subsequence when both sides are small enough, else is shown as all removed then all added.
 */
export function diffLines(local: string[], cluster: string[]): LineChange[] {
  let start = 0;
  while (start < local.length && start < cluster.length && local[start] === cluster[start]) start++;
  let end = 0;
  while (end < local.length - start && end < cluster.length - start && local[local.length - 1 - end] === cluster[cluster.length - 1 - end])
    end++;
  const a = local.slice(start, local.length - end);
  const b = cluster.slice(start, cluster.length - end);
  const middle =
    a.length <= MAX_LCS_LINES && b.length <= MAX_LCS_LINES
      ? lcsDiff(a, b)
      : [...a.map((text) => ({ op: 'local' as const, text })), ...b.map((text) => ({ op: 'cluster' as const, text }))];
  return [
    ...local.slice(0, start).map((text) => ({ op: 'same' as const, text })),
    ...middle,
    ...local.slice(local.length - end).map((text) => ({ op: 'same' as const, text })),
  ];
}

function lcsDiff(a: string[], b: string[]): LineChange[] {
  const width = b.length + 1;
  // lengths[i * width + j]: the longest common subsequence of a[i..] and b[j..].
  const lengths = new Uint16Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i * width + j] =
        a[i] === b[j] ? lengths[(i + 1) * width + j + 1] + 1 : Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
    }
  }
  const lines: LineChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      lines.push({ op: 'same', text: a[i] });
      i++;
      j++;
    } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) lines.push({ op: 'local', text: a[i++] });
    else lines.push({ op: 'cluster', text: b[j++] });
  }
  while (i < a.length) lines.push({ op: 'local', text: a[i++] });
  while (j < b.length) lines.push({ op: 'cluster', text: b[j++] });
  return lines;
}
