/**
 * `standin connect --cluster-proxy <port>`: an HTTP forward proxy on 127.0.0.1 for the local
 * app's calls into the cluster. The app points HTTP_PROXY at it (or calls it directly with the
 * service's Host); each request goes to the standin server over this client's own connection
 * and session, the server calls the in-cluster service, and the answer streams back.
 *
 * Many clients (undici's ProxyAgent and EnvHttpProxyAgent, so Node's fetch with
 * NODE_USE_ENV_PROXY) tunnel even http:// URLs with CONNECT. The hop inside the cluster is plain
 * HTTP, so the proxy accepts a CONNECT and reads plain HTTP requests from the tunnel itself, each
 * bound for the CONNECT's host and port. A CONNECT to port 443 (an https:// URL) is refused with
 * a message that says why; TLS bytes in a tunnel end it. Protocol upgrades are refused too.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import { MAX_HEAD_BYTES } from '#shared/protocol/limits';
import type { RequestObserver } from '../inspector/request-capture';
import { connectAuthority, markTunnel } from './connect-tunnel';
import { proxyOutboundRequest, replyOutboundError, type OutboundCall } from './proxied-request';

export type { OutboundCall };

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
  const server = http.createServer({ maxHeaderSize: MAX_HEAD_BYTES }, (req, res) => {
    if (inFlight >= MAX_OUTBOUND_CALLS) {
      replyOutboundError(
        req,
        res,
        'outbound_busy',
        `the cluster proxy already carries ${MAX_OUTBOUND_CALLS} calls at once; retry in a moment`,
      );
      return;
    }
    inFlight++;
    res.once('close', () => inFlight--);
    void proxyOutboundRequest(req, res, { ...options, ownAuthority }).catch((error: Error) => {
      options.logger.warn('outbound call failed inside the cluster proxy', { error: error.message });
      res.destroy();
    });
  });
  server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const authority = connectAuthority(req.url);
    if (authority === undefined)
      return refuseOnSocket(socket, 400, `CONNECT needs a host:port target, got "${(req.url ?? '').slice(0, 100)}".`);
    if (authority.endsWith(':443')) {
      return refuseOnSocket(
        socket,
        501,
        'https:// is not carried: the hop inside the cluster is plain HTTP. Call the service with an http:// URL, and leave https:// hosts out of the proxy with NO_PROXY.',
      );
    }
    // The tunnel carries plain HTTP: this same server reads the requests in it.
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    markTunnel(socket, authority);
    if (head.length > 0) socket.unshift(head);
    server.emit('connection', socket);
  });
  server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) =>
    refuseOnSocket(socket, 501, 'Upgrades (WebSocket) are not carried through the cluster proxy yet; only plain HTTP requests are.'),
  );
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
function refuseOnSocket(socket: Duplex, status: 400 | 501, message: string): void {
  socket.on('error', () => {});
  const body = `standin cluster proxy: ${message}\n`;
  const code = status === 400 ? 'outbound_bad_request' : 'outbound_unsupported';
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Standin-Error: ${code}\r\nConnection: close\r\n\r\n${body}`,
  );
}
