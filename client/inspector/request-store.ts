/**
 * The inspector's memory: the last 500 finished requests with their body previews (each capped
 * at 64 KiB when captured), so memory stays bounded however long the tunnel runs.
 */

import { getHeader } from '#shared/http-headers';
import type { RawHeaders } from '#shared/protocol/messages';
import { renderPreview, type BodyPreview } from './body-preview';
import type { RequestRecord } from './request-capture';
import { matchesFilter, type RequestFilter } from './request-filter';

/** How many requests the inspector keeps (docs/design.md "Request inspector": the last 500). */
export const MAX_STORED_REQUESTS = 500;

/** One row of GET /api/requests. */
export interface RequestSummary {
  id: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  /** ISO time the request reached the client. */
  startedAt: string;
  /** Set when standin answered instead of the app. */
  error?: string;
  /** `browser_left`: the browser went away before the whole response was delivered. */
  outcome?: string;
  /** Set on a replay: the request it repeats. */
  replayOf?: string;
  /** Set on an outbound call: the app called an in-cluster service; `path` is its URL. */
  outbound?: true;
}

/** GET /api/requests/<id>. Headers are [name, value] pairs, in order, duplicates kept. */
export interface RequestDetail extends RequestSummary {
  tunnel: string;
  errorMessage?: string;
  request: { headers: [string, string][]; body: BodyPreview };
  response: { headers: [string, string][]; body: BodyPreview };
  timings: { queuedMs?: number; appMs: number; totalMs: number };
  bytesIn: number;
  bytesOut: number;
  trace: Record<string, string>;
  /** Why Replay is not possible, when it is not. */
  replayRefusal?: string;
}

export class RequestStore {
  /** Oldest first: a Map keeps insertion order, so the first key is the one to evict. */
  private readonly records = new Map<string, RequestRecord>();
  private readonly listeners = new Set<(summary: RequestSummary) => void>();

  constructor(private readonly maxRequests = MAX_STORED_REQUESTS) {}

  /** Keeps a finished request, dropping the oldest beyond the bound, and tells the listeners. */
  add(record: RequestRecord): void {
    this.records.set(record.requestId, record);
    while (this.records.size > this.maxRequests) {
      const oldest = this.records.keys().next().value as string;
      this.records.delete(oldest);
    }
    const summary = summarize(record);
    for (const listener of this.listeners) listener(summary);
  }

  get(id: string): RequestRecord | undefined {
    return this.records.get(id);
  }

  /** Newest first, only those that pass `filter` when one is given. */
  list(filter?: RequestFilter): RequestSummary[] {
    return this.matching(filter).map(summarize);
  }

  /** The kept records, newest first, only those that pass `filter` when one is given. */
  matching(filter?: RequestFilter): RequestRecord[] {
    const newestFirst = [...this.records.values()].reverse();
    return filter ? newestFirst.filter((record) => matchesFilter(record, filter)) : newestFirst;
  }

  /** How many requests are kept. */
  get size(): number {
    return this.records.size;
  }

  detail(id: string): RequestDetail | undefined {
    const record = this.records.get(id);
    return record ? describe(record) : undefined;
  }

  /** Calls `listener` for every request added from now on; returns the function that stops it. */
  subscribe(listener: (summary: RequestSummary) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Why a recorded request cannot be replayed (as captured, or with `bodyEdited`), or undefined when it can. */
export function replayRefusal(record: RequestRecord, { bodyEdited = false } = {}): string | undefined {
  if (record.outbound) return 'an outbound call went from the app to the cluster; Replay sends requests to the app';
  if (record.status === 101) return 'an upgraded connection (WebSocket) cannot be replayed: the app already switched protocols on it';
  if (!bodyEdited && record.bytesIn > record.requestPreview.length) {
    return `the request body was ${record.bytesIn} bytes; the inspector keeps only the first ${record.requestPreview.length}, so it cannot send the same request again`;
  }
  return undefined;
}

function summarize(record: RequestRecord): RequestSummary {
  return {
    id: record.requestId,
    method: record.method,
    path: record.path,
    status: record.status,
    durationMs: record.durationMs,
    startedAt: new Date(record.startedAt).toISOString(),
    ...(record.error ? { error: record.error } : {}),
    ...(record.outcome ? { outcome: record.outcome } : {}),
    ...(record.replayOf ? { replayOf: record.replayOf } : {}),
    ...(record.outbound ? { outbound: true } : {}),
  };
}

function describe(record: RequestRecord): RequestDetail {
  const refusal = replayRefusal(record);
  return {
    ...summarize(record),
    tunnel: record.tunnel,
    ...(record.errorMessage ? { errorMessage: record.errorMessage } : {}),
    request: { headers: pairs(record.requestHeaders), body: preview(record.requestPreview, record.bytesIn, record.requestHeaders) },
    response: { headers: pairs(record.responseHeaders), body: preview(record.responsePreview, record.bytesOut, record.responseHeaders) },
    timings: { ...(record.queuedMs !== undefined ? { queuedMs: record.queuedMs } : {}), appMs: record.appMs, totalMs: record.durationMs },
    bytesIn: record.bytesIn,
    bytesOut: record.bytesOut,
    trace: record.trace,
    ...(refusal ? { replayRefusal: refusal } : {}),
  };
}

function preview(captured: Buffer, totalBytes: number, headers: RawHeaders): BodyPreview {
  return renderPreview(captured, totalBytes, getHeader(headers, 'content-type'));
}

function pairs(headers: RawHeaders): [string, string][] {
  const result: [string, string][] = [];
  for (let i = 0; i < headers.length; i += 2) result.push([headers[i], headers[i + 1]]);
  return result;
}
