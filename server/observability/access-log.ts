/**
 * One access log line per browser request, written when its response is done (or cut): what a
 * developer greps for by request id across the server's, the client's and the app's logs.
 */

import { performance } from 'node:perf_hooks';
import type { BrowserRequest } from '../core/browser-request';
import { loggedPath, traceFields } from '#shared/trace-fields';

/** Logs the finished request and adds it to its tunnel's counters. */
export function logAccess(request: BrowserRequest): void {
  // Skipped before any work when the level filters it out: this runs once per browser request.
  if (request.errorCode ? !request.logger.isWarnEnabled() : !request.logger.isInfoEnabled()) return;
  const { req, res } = request;
  const completed = res.writableFinished;
  const fields = {
    ...traceFields(req.rawHeaders),
    requestId: request.id,
    tunnel: request.tunnelName,
    method: req.method,
    path: loggedPath(req.url),
    status: res.statusCode,
    bytesIn: request.bytesIn,
    bytesOut: request.bytesOut,
    queueMs: round(request.queueMs),
    appMs: round(request.appMs),
    totalMs: round(performance.now() - request.receivedAt),
    ...(request.errorCode ? { error: request.errorCode } : {}),
    ...(completed ? {} : { aborted: true }),
  };
  if (request.errorCode) request.logger.warn('standin answered with an error', fields);
  else request.logger.info('forwarded request', fields);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
