/**
 * Filter and search over the inspector's requests: `GET /api/requests?method=POST&status=4xx&
 * path=/api&text=token` (and the same parameters on the HAR export). Every given parameter must
 * match; an empty or absent one matches everything. The page sends exactly these parameters, so
 * the list, the page and the HAR file can never disagree about what a filter means.
 */

import type { RequestRecord } from './request-capture';

/** The parsed query of a filtered list. */
export interface RequestFilter {
  /** Exact method, upper case. */
  method?: string;
  /** `404` (exact), `4xx` (class) or `error` (standin answered instead of the app). */
  status?: string;
  /** Substring of the path (query included), case-insensitive. */
  path?: string;
  /** Words that must each appear somewhere (id, method, path, status, headers or body previews), as case-insensitive patterns. */
  patterns?: RegExp[];
}

/** The longest filter value looked at: a search box does not need more, and it bounds the work. */
const MAX_FILTER_CHARS = 200;

/** Reads a filter from query parameters; unknown parameters are ignored. */
export function parseRequestFilter(params: URLSearchParams): RequestFilter {
  const value = (name: string) => params.get(name)?.trim().slice(0, MAX_FILTER_CHARS) || undefined;
  const method = value('method')?.toUpperCase();
  const status = value('status')?.toLowerCase();
  const path = value('path')?.toLowerCase();
  const words = value('text')?.split(/\s+/).filter(Boolean);
  return {
    ...(method ? { method } : {}),
    ...(status ? { status } : {}),
    ...(path ? { path } : {}),
    ...(words?.length ? { patterns: words.map(wordPattern) } : {}),
  };
}

/** Whether the filter has anything to check. */
export function isFiltering(filter: RequestFilter): boolean {
  return Object.keys(filter).length > 0;
}

/** Whether `record` passes every part of `filter`. */
export function matchesFilter(record: RequestRecord, filter: RequestFilter): boolean {
  if (filter.method && record.method.toUpperCase() !== filter.method) return false;
  if (filter.status && !matchesStatus(record, filter.status)) return false;
  if (filter.path && !record.path.toLowerCase().includes(filter.path)) return false;
  if (filter.patterns && !filter.patterns.every(searchableText(record))) return false;
  return true;
}

function matchesStatus(record: RequestRecord, wanted: string): boolean {
  if (wanted === 'error') return record.error !== undefined;
  if (/^[1-5]xx$/.test(wanted)) return String(record.status)[0] === wanted[0];
  return String(record.status) === wanted;
}

/**
 * A test for one word against everything the inspector shows of a request. Bodies are searched
 * as bytes (a latin1 view costs a copy but no decoding), with the word in the same view: its
 * UTF-8 bytes. Matching ignores ASCII case. Each part is tested on its own: joining 500 records'
 * previews into one string to lower-case it took ten times as long.
 */
function searchableText(record: RequestRecord): (pattern: RegExp) => boolean {
  const fields = [
    record.requestId,
    record.method,
    record.path,
    String(record.status),
    record.error ?? '',
    record.replayOf ? `replay ${record.replayOf}` : '',
  ];
  return (pattern) =>
    fields.some((field) => pattern.test(field)) ||
    record.requestHeaders.some((item) => pattern.test(item)) ||
    record.responseHeaders.some((item) => pattern.test(item)) ||
    pattern.test(record.requestPreview.toString('latin1')) ||
    pattern.test(record.responsePreview.toString('latin1'));
}

/** A case-insensitive literal pattern for `word` as its UTF-8 bytes read as latin1 (how headers and the body views hold text). */
function wordPattern(word: string): RegExp {
  const bytesAsLatin1 = Buffer.from(word, 'utf8').toString('latin1');
  return new RegExp(bytesAsLatin1.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
}
