/**
 * `OPTIONS * HTTP/1.1` (RFC 9112 §3.2.4, the asterisk-form: a question about the server as a
 * whole, not about one resource) replayed against the local app. undici refuses any request
 * target that is not a path, so this one request goes out on node:http, which sends `*` as is.
 * Such answers are small: the body is read whole (up to MAX_ASTERISK_BODY_BYTES) before the
 * response is handed on.
 */

import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { setHeader } from '#shared/http-headers';
import type { RequestMeta } from '#shared/protocol/messages';
import type { AppResponse, ForwardOptions } from './app-response';
import { AppRequestError, classifyAppError } from './app-request-error';

/** Largest body of an answer to `OPTIONS *` that is passed on; past it the request fails (502). */
const MAX_ASTERISK_BODY_BYTES = 64 * 1024;

/** Whether `meta` is a request in asterisk-form (only OPTIONS may use it). */
export function isAsteriskForm(meta: RequestMeta): boolean {
  return meta.url === '*';
}

/** Sends an asterisk-form request to the app; resolves with its whole answer. */
export function forwardAsteriskRequest(meta: RequestMeta, body: Readable | null, options: ForwardOptions): Promise<AppResponse> {
  if (meta.method !== 'OPTIONS') {
    return Promise.reject(
      new AppRequestError('app_error', `the request target * is only valid with OPTIONS, not ${meta.method.slice(0, 20)}`),
    );
  }
  const headers = meta.headers.slice();
  if (!options.preserveHost) setHeader(headers, 'Host', options.target.host);
  const transport = options.target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let request: http.ClientRequest;
    try {
      request = transport.request({
        host: options.target.hostname.replace(/^\[|\]$/g, ''),
        port: options.target.port,
        method: 'OPTIONS',
        path: '*',
        headers,
        agent: false,
        // The target is the developer's own machine; local https dev servers use self-signed certificates.
        rejectUnauthorized: false,
      });
    } catch (error) {
      // node:http refuses bad header names or values before anything is sent.
      reject(
        new AppRequestError('app_error', `the request cannot be sent to the local app: ${(error as Error).message}`, { cause: error }),
      );
      return;
    }
    const timer = setTimeout(
      () =>
        request.destroy(
          new AppRequestError(
            'app_error',
            `the local app at ${options.target.origin} did not answer within ${options.headersTimeoutMs} ms`,
          ),
        ),
      options.headersTimeoutMs,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error instanceof AppRequestError ? error : classifyAppError(error, options.target));
    };
    request.once('error', fail);
    request.once('response', (response) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.once('error', fail);
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_ASTERISK_BODY_BYTES)
          return void request.destroy(
            new AppRequestError('app_error', `the local app's answer to OPTIONS * is larger than ${MAX_ASTERISK_BODY_BYTES} bytes`),
          );
        options.onResponseChunk?.(chunk);
        chunks.push(chunk);
      });
      response.once('end', () => {
        clearTimeout(timer);
        const whole = Buffer.concat(chunks);
        let taken = false;
        resolve({
          status: response.statusCode ?? 502,
          statusMessage: response.statusMessage ?? '',
          headers: response.rawHeaders,
          trailers: response.rawTrailers,
          get body() {
            return Readable.from(taken ? [] : [whole]);
          },
          takeWholeBody: () => {
            if (taken) return undefined;
            taken = true;
            return whole;
          },
        });
      });
    });
    if (body && meta.hasBody) {
      body.once('error', (error) => request.destroy(error));
      body.pipe(request);
    } else {
      request.end();
    }
  });
}
