/**
 * POST /_standin/v1/tunnels/<name>/compare (shared/protocol/compare.ts): the inspector's
 * "Compare with the cluster". The tunnel's owner session sends a captured request; the server
 * sends it to its --fallback app, the in-cluster app the laptop stands in for, and answers with
 * the fallback's status, headers and the first 256 KiB of its body.
 *
 * It only ever connects to the configured fallback origin (the request carries a path, never a
 * host), with the same request options as browser traffic to the fallback (fallback-proxy.ts).
 * The request body, the whole exchange's time and the body kept are all bounded.
 */

import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import {
  MAX_COMPARE_REQUEST_JSON_BYTES,
  MAX_COMPARE_RESPONSE_BODY_BYTES,
  parseCompareRequest,
  type CompareErrorCode,
  type CompareRequest,
  type CompareResponse,
} from '#shared/protocol/compare';
import { StandinError } from '#shared/errors';
import { withoutHopByHop } from '#shared/http-headers';
import type { RawHeaders } from '#shared/protocol/messages';
import { newUuid } from '#shared/random-ids';
import { loggedPath } from '#shared/trace-fields';
import { replyJson } from '../http/json-reply';
import { fallbackRequestOptions } from '../data-path/fallback-proxy';
import { readJsonBody } from './read-json-body';
import { refusedForSession } from './current-session';
import type { ServerContext } from '../server-context';

/** Standin's own headers: the caller's are dropped, the server sets its own. */
const STANDIN_HEADER_PREFIX = 'x-standin-';

export async function handleCompare(ctx: ServerContext, name: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (await refusedForSession(ctx, name, req, res)) return;
  const fallback = ctx.config.fallback;
  if (!fallback) {
    req.resume();
    return replyCompareError(res, 409, 'no_fallback', 'this standin server has no --fallback, so there is no cluster app to compare with');
  }
  const timeoutMs = ctx.config.requestTimeoutMs;
  // Bounded: a caller that stalls mid-body cannot hold the route (the JSON is small).
  const bodyTimer = setTimeout(
    () => req.destroy(new StandinError('bad_request', 'compare body did not arrive in time')),
    timeoutMs,
  ).unref();
  let request: CompareRequest;
  try {
    request = parseCompareRequest(await readJsonBody(req, MAX_COMPARE_REQUEST_JSON_BYTES));
  } finally {
    clearTimeout(bodyTimer);
  }
  const requestId = newUuid();
  const startedAt = performance.now();
  const answer = await sendToFallback(fallback, request, requestId, name, timeoutMs);
  const fields = {
    requestId,
    tunnel: name,
    method: request.method,
    path: loggedPath(request.path),
    totalMs: Math.round(performance.now() - startedAt),
  };
  if ('error' in answer) {
    ctx.logger.warn('compare with fallback failed', { ...fields, error: answer.error });
    return replyCompareError(res, answer.error === 'fallback_timeout' ? 504 : 502, answer.error, answer.message);
  }
  ctx.logger.info('compared with fallback', { ...fields, status: answer.status });
  replyJson(res, 200, answer);
}

type FallbackAnswer = CompareResponse | { error: CompareErrorCode; message: string };

/** Sends the request to the fallback and reads at most MAX_COMPARE_RESPONSE_BODY_BYTES of the answer, all within `timeoutMs`. */
function sendToFallback(
  fallback: URL,
  request: CompareRequest,
  requestId: string,
  tunnel: string,
  timeoutMs: number,
): Promise<FallbackAnswer> {
  const body = Buffer.from(request.bodyBase64, 'base64');
  const headers = compareHeaders(request.headers, requestId, tunnel, fallback, body.length);
  const startedAt = performance.now();
  return new Promise((resolve) => {
    let upstream: http.ClientRequest;
    try {
      // No kept-alive agent: a comparison is a rare, deliberate click.
      const options = fallbackRequestOptions(fallback, { method: request.method, url: request.path }, headers, false);
      upstream = (fallback.protocol === 'https:' ? https : http).request(options);
    } catch (error) {
      // Node refuses a header it cannot send (control characters) before connecting.
      return resolve({ error: 'fallback_unreachable', message: `the request cannot be sent: ${(error as Error).message}` });
    }
    let settled = false;
    const settle = (answer: FallbackAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      upstream.destroy();
      resolve(answer);
    };
    const timer = setTimeout(
      () => settle({ error: 'fallback_timeout', message: `the cluster app did not answer within ${timeoutMs / 1000} s` }),
      timeoutMs,
    ).unref();
    upstream.once('error', (error) =>
      settle({ error: 'fallback_unreachable', message: `standin could not reach the cluster app: ${error.message}` }),
    );
    upstream.once('response', (response) => {
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let totalBytes = 0;
      const finish = (truncated: boolean) =>
        settle({
          requestId,
          status: response.statusCode ?? 502,
          headers: withoutHopByHop(response.rawHeaders),
          bodyBase64: Buffer.concat(kept, keptBytes).toString('base64'),
          totalBytes: truncated ? Math.max(totalBytes, Number(response.headers['content-length']) || 0) : totalBytes,
          truncated,
          durationMs: Math.round((performance.now() - startedAt) * 10) / 10,
        });
      response.on('data', (chunk: Buffer) => {
        totalBytes += chunk.length;
        const room = MAX_COMPARE_RESPONSE_BODY_BYTES - keptBytes;
        kept.push(chunk.subarray(0, room));
        keptBytes += Math.min(room, chunk.length);
        if (totalBytes > MAX_COMPARE_RESPONSE_BODY_BYTES) finish(true);
      });
      response.once('end', () => finish(false));
      response.once('error', () => finish(true));
    });
    upstream.end(body);
  });
}

/**
 * The caller's headers without hop-by-hop, framing and X-Standin-* ones, plus the server's request
 * id and a mark that this is a comparison; Host as the caller gave it, else the fallback's.
 */
function compareHeaders(given: RawHeaders, requestId: string, tunnel: string, fallback: URL, bodyBytes: number): RawHeaders {
  const headers = withoutHopByHop(given, new Set(['content-length', 'expect'])).filter(
    (_, i, all) => !all[i - (i % 2)].toLowerCase().startsWith(STANDIN_HEADER_PREFIX),
  );
  if (!headers.some((item, i) => i % 2 === 0 && item.toLowerCase() === 'host')) headers.push('Host', fallback.host);
  if (bodyBytes > 0) headers.push('Content-Length', String(bodyBytes));
  headers.push('X-Standin-Request-Id', requestId, 'X-Standin-Compare', tunnel);
  return headers;
}

function replyCompareError(res: http.ServerResponse, status: number, error: CompareErrorCode, message: string): void {
  replyJson(res, status, { error, message });
}
