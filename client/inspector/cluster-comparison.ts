/**
 * "Compare with the cluster": a captured request is sent through the standin server to its
 * --fallback app (the in-cluster app this laptop stands in for), and the answer is set beside
 * the one the local app gave, with the differences marked (response-diff.ts).
 *
 * The local side is the captured response of that request (Replay first for a fresh one); the
 * cluster side is a fresh answer. The request goes as the app got it, with the site's Host
 * (X-Forwarded-Host) instead of the local target's, as the cluster app would get it.
 */

import { StandinError } from '#shared/errors';
import { getHeader, setHeader } from '#shared/http-headers';
import type { CompareRequest, CompareResponse } from '#shared/protocol/compare';
import { renderPreview, type BodyPreview } from './body-preview';
import type { RequestRecord } from './request-capture';
import { replayRefusal } from './request-store';
import { decodedBody, diffResponses, type ComparedResponse, type ResponseDifferences } from './response-diff';

/** Sends one compare request through a tunnel's server session (TunnelClient.callCompare). */
export type CompareCaller = (request: CompareRequest) => Promise<CompareResponse>;

/** The request cannot be compared (answered 409 with the reason). */
export class CompareRefusedError extends StandinError {
  override name = 'CompareRefusedError';
  constructor(message: string) {
    super('compare_refused', message);
  }
}

/** One side as the page shows it. */
export interface ComparedSide {
  status: number;
  headers: [string, string][];
  body: BodyPreview;
}

/** The answer of POST /api/requests/<id>/compare. */
export interface Comparison {
  id: string;
  local: ComparedSide;
  cluster: ComparedSide & { requestId: string; durationMs: number };
  differences: ResponseDifferences;
}

/** Sends `record`'s request to the cluster through `call` and compares the answers. */
export async function compareWithCluster(record: RequestRecord, call: CompareCaller): Promise<Comparison> {
  const refusal = replayRefusal(record);
  if (refusal) throw new CompareRefusedError(refusal.replace('Replay sends requests to the app', 'Compare sends requests the app got'));
  const answer = await call(compareRequest(record));
  const local: ComparedResponse = {
    status: record.status,
    headers: record.responseHeaders,
    body: record.responsePreview,
    truncated: record.bytesOut > record.responsePreview.length,
  };
  const clusterBody = Buffer.from(answer.bodyBase64, 'base64');
  const cluster: ComparedResponse = { status: answer.status, headers: answer.headers, body: clusterBody, truncated: answer.truncated };
  return {
    id: record.requestId,
    local: side(local, record.bytesOut),
    cluster: { ...side(cluster, answer.totalBytes), requestId: answer.requestId, durationMs: answer.durationMs },
    differences: diffResponses(local, cluster),
  };
}

/** The request as the app got it, with the site's Host: what the cluster app would have got. */
function compareRequest(record: RequestRecord): CompareRequest {
  const headers = record.requestHeaders.slice();
  const siteHost = getHeader(headers, 'x-forwarded-host');
  if (siteHost) setHeader(headers, 'Host', siteHost);
  return { method: record.method, path: record.path, headers, bodyBase64: record.requestPreview.toString('base64') };
}

function side(response: ComparedResponse, totalBytes: number): ComparedSide {
  const decoded = decodedBody(response);
  const wasDecoded = decoded !== response.body;
  const pairs: [string, string][] = [];
  for (let i = 0; i < response.headers.length; i += 2) pairs.push([response.headers[i], response.headers[i + 1]]);
  return {
    status: response.status,
    headers: pairs,
    body: renderPreview(decoded, wasDecoded ? decoded.length : totalBytes, getHeader(response.headers, 'content-type')),
  };
}
