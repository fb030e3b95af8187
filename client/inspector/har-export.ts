/**
 * The inspector's list as an HTTP Archive (HAR 1.2, http://www.softwareishard.com/blog/har-12-spec/),
 * for `GET /api/requests.har`: browsers' dev tools, Charles, k6 and many more open it. URLs name
 * the local app the request went to. Bodies are the inspector's previews (the first 64 KiB):
 * text as text, anything else base64 with `encoding: "base64"`; a cut body says so in `comment`.
 */

import { getHeader } from '#shared/http-headers';
import type { RawHeaders } from '#shared/protocol/messages';
import type { RequestRecord } from './request-capture';

/** The `log` of a HAR file (only the fields we fill; see the spec for the rest). */
export interface HarLog {
  log: {
    version: '1.2';
    creator: { name: string; version: string };
    entries: HarEntry[];
  };
}

interface HarNameValue {
  name: string;
  value: string;
}

interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: { mimeType: string; text: string; encoding?: 'base64'; comment?: string };
    headersSize: -1;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    content: { size: number; mimeType: string; text?: string; encoding?: 'base64'; comment?: string };
    redirectURL: string;
    headersSize: -1;
    bodySize: number;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  /** Custom fields start with an underscore (HAR 1.2). */
  _standinRequestId: string;
  _standinTunnel: string;
  _standinError?: string;
  _standinReplayOf?: string;
}

/** Builds the archive of `records` (newest first, as the list shows them); `targetOf` gives each one's app. */
export function harLog(records: RequestRecord[], targetOf: (record: RequestRecord) => URL, version: string): HarLog {
  return {
    log: {
      version: '1.2',
      creator: { name: 'standin inspector', version },
      // HAR viewers expect the order requests started in.
      entries: records
        .slice()
        .reverse()
        .map((record) => harEntry(record, targetOf(record))),
    },
  };
}

function harEntry(record: RequestRecord, target: URL): HarEntry {
  const url = record.outbound ? record.path : target.origin + record.path;
  const requestBody = harBody(record.requestPreview, record.bytesIn, record.requestHeaders);
  const responseBody = harBody(record.responsePreview, record.bytesOut, record.responseHeaders);
  const waitMs = record.appMs;
  return {
    startedDateTime: new Date(record.startedAt).toISOString(),
    time: record.durationMs,
    request: {
      method: record.method,
      url,
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: nameValues(record.requestHeaders),
      queryString: queryString(url),
      ...(record.bytesIn > 0 ? { postData: { mimeType: requestBody.mimeType, ...requestBody.content } } : {}),
      headersSize: -1,
      bodySize: record.bytesIn,
    },
    response: {
      status: record.status,
      statusText: '',
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: nameValues(record.responseHeaders),
      content: { size: record.bytesOut, mimeType: responseBody.mimeType, ...(record.bytesOut > 0 ? responseBody.content : {}) },
      redirectURL: getHeader(record.responseHeaders, 'location') ?? '',
      headersSize: -1,
      bodySize: record.bytesOut,
    },
    cache: {},
    timings: { send: 0, wait: waitMs, receive: Math.max(0, record.durationMs - waitMs) },
    _standinRequestId: record.requestId,
    _standinTunnel: record.tunnel,
    ...(record.error ? { _standinError: record.error } : {}),
    ...(record.replayOf ? { _standinReplayOf: record.replayOf } : {}),
  };
}

function harBody(captured: Buffer, totalBytes: number, headers: RawHeaders) {
  const mimeType = getHeader(headers, 'content-type') ?? '';
  const isUtf8 = Buffer.from(captured.toString('utf8'), 'utf8').equals(captured);
  const comment = totalBytes > captured.length ? { comment: `first ${captured.length} of ${totalBytes} bytes` } : {};
  const content = isUtf8
    ? { text: captured.toString('utf8'), ...comment }
    : { text: captured.toString('base64'), encoding: 'base64' as const, ...comment };
  return { mimeType, content };
}

function nameValues(headers: RawHeaders): HarNameValue[] {
  const result: HarNameValue[] = [];
  for (let i = 0; i < headers.length; i += 2) result.push({ name: headers[i], value: headers[i + 1] });
  return result;
}

function queryString(url: string): HarNameValue[] {
  try {
    return [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    return [];
  }
}
