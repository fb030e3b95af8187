/**
 * `standin connect --cluster-proxy <port>`: an HTTP forward proxy on 127.0.0.1 for the local
 * app's calls into the cluster. The app points HTTP_PROXY at it (or calls it directly with the
 * service's Host); each request goes to the standin server over this client's own connection
 * and session, the server calls the in-cluster service, and the answer streams back. The hop
 * inside the cluster is plain HTTP, so CONNECT (what clients send for https:// URLs) and
 * protocol upgrades are refused with a message that says so.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ConfigError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { MAX_PUBLIC_HEADER_BYTES } from '../../shared/protocol';
import type { RequestObserver } from '../request-capture';
import { proxyOutboundRequest, replyOutboundError } from './proxied-request';

/** Sends one outbound call to the server: the meta frame and the app's body in, the server's answer out. */
export type OutboundCall = (body: Readable, options: { contentLength?: number; signal: AbortSignal }) => Promise<Dispatcher.ResponseData>;

/** Most outbound calls at once; past it the app gets 503 outbound_busy (each holds a connection to the server). */
export const MAX_OUTBOUND_CALLS = 32;

/** Options of startClusterProxy. */
export interface ClusterProxyOptions {
  /** Port on 127.0.0.1; 0 for any free one. */
  port: number;
  tunnel: string;
  call: OutboundCall;
  /** Gets each finished call's record (terminal line, log file, inspector). */
  report: RequestObserver;
  /** Body preview bytes kept per call for the inspector (0 without it). */
  previewCapBytes: number;
  logger: Logger;
}

/** A running cluster proxy. */
export interface ClusterProxy {
  /** `http://127.0.0.1:<port>`, the value for HTTP_PROXY. */
  url: string;
  close(): Promise<void>;
}

/** Starts the proxy; throws ConfigError when the port cannot be had. */
export async function startClusterProxy(options: ClusterProxyOptions): Promise<ClusterProxy> {
  let inFlight = 0;
  let ownAuthority = '';
  const server = http.createServer({ maxHeaderSize: MAX_PUBLIC_HEADER_BYTES }, (req, res) => {
    if (inFlight >= MAX_OUTBOUND_CALLS) {
      replyOutboundError(req, res, 'outbound_busy', `the cluster proxy already carries ${MAX_OUTBOUND_CALLS} calls at once; retry in a moment`);
      return;
    }
    inFlight++;
    res.once('close', () => inFlight--);
    void proxyOutboundRequest(req, res, { ...options, ownAuthority }).catch((error: Error) => {
      options.logger.warn('outbound call failed inside the cluster proxy', { error: error.message });
      res.destroy();
    });
  });
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) =>
    refuseOnSocket(socket, 'CONNECT is not carried: the hop inside the cluster is plain HTTP. Call the service with an http:// URL, and leave https:// hosts out of the proxy with NO_PROXY.'),
  );
  server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) => refuseOnSocket(socket, 'Upgrades (WebSocket) are not carried through the cluster proxy yet; only plain HTTP requests are.'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'is in use by another program' : `cannot be opened (${error.message})`;
      reject(new ConfigError(`--cluster-proxy port ${options.port} on 127.0.0.1 ${why}; pick another port`, { cause: error }));
    });
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  ownAuthority = `127.0.0.1:${port}`;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers a CONNECT or upgrade on the raw socket (no HTTP response object exists for those). */
function refuseOnSocket(socket: Duplex, message: string): void {
  socket.on('error', () => {});
  const body = `standin cluster proxy: ${message}\n`;
  socket.end(
    `HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Standin-Error: outbound_unsupported\r\nConnection: close\r\n\r\n${body}`,
  );
}
