/**
 * Header rules from the HTTP standards that both sides apply to raw header lists
 * ([name, value, name, value, ...], as Node's `rawHeaders`, case and duplicates kept).
 */

import type { RawHeaders } from './protocol/messages';

/**
 * Hop-by-hop headers apply to one connection only and must not be forwarded
 * (RFC 9110 §7.6.1; `keep-alive`, `proxy-connection` and `te`/`upgrade` are the classic list
 * from RFC 2616 §13.5.1 that proxies still strip). Headers named in `Connection` are hop-by-hop
 * too. `Trailer` is not: it announces end-to-end trailer fields (RFC 9110 §6.6.2); RFC 2616's
 * list names `Trailers`, a `TE` token, which is often misread as this header.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'transfer-encoding',
  'upgrade',
]);

/** Returns the headers without hop-by-hop ones, nor any whose lower-case name is in `alsoDrop`. */
export function withoutHopByHop(headers: RawHeaders, alsoDrop?: ReadonlySet<string>): RawHeaders {
  const namedInConnection = connectionTokens(headers);
  const kept: RawHeaders = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i].toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(name) || namedInConnection?.has(name) || alsoDrop?.has(name)) continue;
    kept.push(headers[i], headers[i + 1]);
  }
  return kept;
}

/** The first value of a header (by lower-case name), or undefined. */
export function getHeader(headers: RawHeaders, lowerCaseName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() === lowerCaseName) return headers[i + 1];
  }
  return undefined;
}

/** Replaces every value of a header with one value (appended when absent). */
export function setHeader(headers: RawHeaders, name: string, value: string): void {
  const lowerCaseName = name.toLowerCase();
  let replaced = false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() !== lowerCaseName) continue;
    if (replaced) {
      headers.splice(i, 2);
      i -= 2;
    } else {
      headers[i + 1] = value;
      replaced = true;
    }
  }
  if (!replaced) headers.push(name, value);
}

/** The lower-case header names listed in `Connection` headers (hop-by-hop too), or undefined without any. */
export function connectionTokens(headers: RawHeaders): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    // The length test first: this scans every header of every request.
    if (headers[i].length !== 10 || headers[i].toLowerCase() !== 'connection') continue;
    tokens ??= new Set();
    for (const token of headers[i + 1].split(',')) tokens.add(token.trim().toLowerCase());
  }
  return tokens;
}
