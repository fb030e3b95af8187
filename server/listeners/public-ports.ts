/**
 * The per-tunnel public ports: plain node:http listeners (no Express on the data path), opened
 * when a port is first reserved and kept open, since the reservation may change hands between
 * tunnel names but the port stays standin's. Each request is routed to whichever tunnel name
 * holds the port at that moment.
 */

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { MAX_HEAD_BYTES } from '#shared/protocol/limits';
import { createLogger, type Logger } from '#shared/logger';
import { DEFAULT_MAX_CONNECTIONS_PER_SOURCE, type PublicPortLimits } from '../config';
import { createHttpListener } from './http-listener';
import { DEFAULT_TRUSTED_PROXIES, TrustedProxies } from '../http/trusted-proxies';

/** Limits when none are configured (tests that build PublicPorts directly). */
const DEFAULT_LIMITS: PublicPortLimits = {
  idleTimeoutMs: 120_000,
  headersTimeoutMs: 20_000,
  maxHeaderBytes: MAX_HEAD_BYTES,
  maxConnectionsPerSource: DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
  trustedProxies: new TrustedProxies(DEFAULT_TRUSTED_PROXIES),
};

/** Handles a browser request that arrived on a tunnel port. */
export type PublicPortHandler = (port: number, req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Handles a browser Upgrade request (WebSocket) that arrived on a tunnel port. */
export type PublicPortUpgradeHandler = (port: number, req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export class PublicPorts {
  private readonly servers = new Map<number, http.Server>();

  constructor(
    private readonly handler: PublicPortHandler,
    private readonly upgradeHandler?: PublicPortUpgradeHandler,
    private readonly limits: PublicPortLimits = DEFAULT_LIMITS,
    private readonly logger: Logger = createLogger({ format: 'json', level: 'error' }),
    /** --bind: the address every tunnel port listens on. */
    private readonly bindAddress = '0.0.0.0',
  ) {}

  /** Opens the listener for `port` if it is not open yet; false when the port is taken by someone else. */
  async ensureOpen(port: number): Promise<boolean> {
    if (this.servers.has(port)) return true;
    const onUpgrade = this.upgradeHandler;
    const server = createHttpListener({
      limits: this.limits,
      logger: this.logger,
      onRequest: (req, res) => this.handler(port, req, res),
      onUpgrade: onUpgrade && ((req, socket, head) => onUpgrade(port, req, socket, head)),
    });
    try {
      await listen(server, port, this.bindAddress);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' || (error as NodeJS.ErrnoException).code === 'EACCES') return false;
      throw error;
    }
    this.servers.set(port, server);
    return true;
  }

  /** Stops accepting connections on every tunnel port; open ones finish (idle keep-alive ones close). */
  stopAccepting(): void {
    for (const server of this.servers.values()) server.close();
  }

  /** Stops accepting connections on every tunnel port; open connections are cut. */
  async closeAll(): Promise<void> {
    const closing = [...this.servers.values()].map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    this.servers.clear();
    await Promise.all(closing);
  }
}

/** Listens on `port` at `bindAddress` (all IPv4 interfaces by default: the cluster proxy reaches the pod by its address). */
export function listen(server: http.Server, port: number, bindAddress = '0.0.0.0'): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, bindAddress, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
