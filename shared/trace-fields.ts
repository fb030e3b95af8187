/**
 * Log fields from a request's trace headers, so one grep finds a request across the server's,
 * the client's and the app's logs. Both sides log them; they differ only in which header list
 * they read (the browser's on the server, the app-bound one on the client).
 */

import type { RawHeaders } from './protocol';

/** Longest trace header value we log; longer ones are cut so a header cannot flood a log line. */
const MAX_TRACE_VALUE_CHARS = 128;

/**
 * Fields for the log from incoming trace headers: `traceparent` and every `X-*-Id`
 * (`X-Correlation-Id` → `correlationId`). `X-Request-Id` becomes `xRequestId`, so it never
 * overwrites standin's own `requestId` field.
 */
export function traceFields(rawHeaders: RawHeaders): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1].slice(0, MAX_TRACE_VALUE_CHARS);
    if (name === 'traceparent') fields.traceparent = value;
    else if (name === 'x-request-id') fields.xRequestId = value;
    else if (name.startsWith('x-') && name.endsWith('-id') && !name.startsWith('x-standin-')) {
      fields[camelCase(name.slice(2))] = value;
    }
  }
  return fields;
}

function camelCase(dashed: string): string {
  return dashed.replace(/-([a-z0-9])/g, (_, char: string) => char.toUpperCase());
}
