/**
 * What of a request goes into logs, on both sides: the trace headers that let one grep find a
 * request across the server's, the client's and the app's logs, and its path. Only named trace
 * headers are logged (`X-Request-Id`, `X-Correlation-Id`, `traceparent`, plus `--log-header`),
 * never every `X-*-Id` (`X-Session-Id` is a session secret), and the query string is left out
 * unless `--log-query` (it often carries tokens).
 *
 * The policy is set once per process from its config (configureLogPrivacy) rather than passed
 * through every log call: a server or client has one policy, and every log line must follow it.
 */

import type { RawHeaders } from './protocol/messages';

/** Longest trace header value we log; longer ones are cut so a header cannot flood a log line. */
const MAX_TRACE_VALUE_CHARS = 128;

/** Trace headers always logged, with their log field names. */
const TRACE_HEADERS: ReadonlyMap<string, string> = new Map([
  ['x-request-id', 'xRequestId'],
  ['x-correlation-id', 'correlationId'],
  ['traceparent', 'traceparent'],
]);

/** What logs may contain. */
export interface LogPrivacy {
  /** Log query strings (`--log-query`). */
  logQuery: boolean;
  /** More request headers to log (`--log-header`), lower case. */
  logHeaders: readonly string[];
}

let loggedHeaders = new Map(TRACE_HEADERS);
let logQuery = false;

/** Sets this process's policy (at start, from `--log-query` and `--log-header`). */
export function configureLogPrivacy(policy: LogPrivacy): void {
  logQuery = policy.logQuery;
  loggedHeaders = new Map(TRACE_HEADERS);
  for (const name of policy.logHeaders) if (!loggedHeaders.has(name)) loggedHeaders.set(name, camelCase(name));
}

/**
 * Log fields from a request's headers: the trace headers (`X-Request-Id` becomes `xRequestId`,
 * so it never overwrites standin's own `requestId`) and those named with `--log-header`
 * (in camelCase: `X-Tenant` becomes `xTenant`; standin's own fields are never overwritten).
 */
export function traceFields(rawHeaders: RawHeaders): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const field = loggedHeaders.get(rawHeaders[i].toLowerCase());
    if (field !== undefined) fields[field] = rawHeaders[i + 1].slice(0, MAX_TRACE_VALUE_CHARS);
  }
  return fields;
}

/** The request target as logs show it: without its query string unless `--log-query`. */
export function loggedPath(url: string | undefined): string {
  const target = url ?? '';
  if (logQuery) return target;
  const question = target.indexOf('?');
  return question < 0 ? target : target.slice(0, question);
}

function camelCase(dashed: string): string {
  return dashed.replace(/-([a-z0-9])/g, (_, char: string) => char.toUpperCase());
}
