/**
 * SIGTERM on the server (docs/design.md "Failure handling"): readiness turns 503, tunnel ports
 * stop taking requests, in-flight requests finish within --shutdown-grace, then every client's
 * polls are answered 503 `server_shutdown` so it reconnects promptly (to a replacement), and the
 * process exits.
 */

import type { Logger } from '#shared/logger';
import type { ServerContext } from '../server-context';

/** How often the drain checks whether in-flight requests are done. */
const DRAIN_CHECK_INTERVAL_MS = 100;

/** A draining replica keeps its ports open at least this long: the other replicas and the Service need a moment to stop sending here. */
const REPLICA_DRAIN_MIN_MS = 2_000;

/** How long a draining replica lets calls under way finish after its ports closed. */
const REPLICA_LINGER_MS = 1_000;

/** Time for the clients' 503 server_shutdown answers to leave before connections are cut. */
const FAREWELL_FLUSH_MS = 250;

/** What graceful shutdown needs of a running server. */
export interface DrainableServer {
  context: ServerContext;
  /** Stops the tunnel ports from accepting connections; open ones finish their requests. */
  stopAcceptingTraffic(): void;
  /** Stops the main port from accepting connections; calls under way go on. */
  stopAcceptingClientCalls(): void;
  close(): Promise<void>;
}

/** Drains and closes `server`; resolves when it is closed (the caller exits 0). */
export async function shutDownGracefully(server: DrainableServer, graceMs: number, logger: Logger): Promise<void> {
  const ctx = server.context;
  if (ctx.replicas) return drainReplica(server, graceMs, logger);
  const startedAt = Date.now();
  ctx.drain.draining = true;
  server.stopAcceptingTraffic();
  logger.info('draining', { inFlight: inFlightRequests(ctx), graceSeconds: graceMs / 1000 });
  await waitUntil(() => inFlightRequests(ctx) === 0, graceMs);
  const unfinished = inFlightRequests(ctx);
  for (const tunnel of ctx.registry.list()) {
    for (const request of tunnel.session.end('shutdown')) request.fail('tunnel_offline', 'The standin server is shutting down.');
  }
  await new Promise((resolve) => setTimeout(resolve, FAREWELL_FLUSH_MS));
  await server.close();
  logger.info('stopped', { drainedMs: Date.now() - startedAt, cutRequests: unfinished });
}

/**
 * A replica's drain (docs/replicas.md "Rolling update"): the others stop sending work here, the
 * clients' polls are sent elsewhere, and what still arrives (the Service takes a moment to notice)
 * is passed on; the tunnels live on in the other replicas, so no session ends. The ports stay
 * open until the in-flight requests are done, at least REPLICA_DRAIN_MIN_MS.
 */
async function drainReplica(server: DrainableServer, graceMs: number, logger: Logger): Promise<void> {
  const ctx = server.context;
  const replicas = ctx.replicas!;
  const startedAt = Date.now();
  ctx.drain.draining = true;
  await replicas.startDraining();
  for (const tunnel of ctx.registry.list()) tunnel.session.sendIdlePollsElsewhere();
  const busy = () => inFlightRequests(ctx) + replicas.hopsInFlight;
  logger.info('draining', { inFlight: busy(), graceSeconds: graceMs / 1000 });
  await new Promise((resolve) => setTimeout(resolve, Math.min(REPLICA_DRAIN_MIN_MS, graceMs)));
  await waitUntil(() => busy() === 0, Math.max(0, graceMs - (Date.now() - startedAt)));
  const unfinished = busy();
  server.stopAcceptingTraffic();
  server.stopAcceptingClientCalls();
  for (const tunnel of ctx.registry.list()) {
    tunnel.session.sendIdlePollsElsewhere();
    for (const request of tunnel.session.takeQueued())
      request.fail('tunnel_offline', 'The standin replica holding this request is shutting down.');
  }
  // Calls that arrived just before the ports closed (a client's answer on its way to the
  // replica holding its request, a poll about to be sent elsewhere) finish before connections are cut.
  await new Promise((resolve) => setTimeout(resolve, REPLICA_LINGER_MS));
  await server.close();
  logger.info('stopped', { drainedMs: Date.now() - startedAt, cutRequests: unfinished });
}

function inFlightRequests(ctx: ServerContext): number {
  return ctx.registry.list().reduce((sum, tunnel) => sum + tunnel.counters.inFlight, 0);
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, DRAIN_CHECK_INTERVAL_MS));
}
