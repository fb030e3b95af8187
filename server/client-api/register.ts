/** POST /_standin/v1/tunnels: a client registers (or re-registers) a tunnel and gets a port. */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_CLIENT_API_BODY_BYTES } from '#shared/protocol/limits';
import { parseRegisterRequest } from '#shared/protocol/message-codecs';
import type { RegisterRequest, RegisterResponse } from '#shared/protocol/messages';
import { PROTOCOL_FEATURES, PROTOCOL_VERSION } from '#shared/protocol/version';
import { replyError, replyJson } from '../http/json-reply';
import type { Caller } from '../identity/caller';
import { decideNameClaim } from '../identity/name-ownership';
import { checkTunnelQuota } from '../identity/tunnel-quota';
import { readJsonBody } from './read-json-body';
import { replyRegistryUnavailable } from './current-session';
import { noFreePortMessage } from './no-free-port';
import type { ServerContext } from '../server-context';
import { publicUrlsFor } from '../selector/public-urls';
import { Tunnel } from '../core/tunnel';

export async function handleRegister(ctx: ServerContext, caller: Caller, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (ctx.drain.draining) {
    req.resume();
    replyError(res, 503, 'server_shutdown', 'the standin server is shutting down; register again in a moment');
    return;
  }
  const registration = parseRegisterRequest(await readJsonBody(req, MAX_CLIENT_API_BODY_BYTES));
  const replicas = ctx.replicas;
  if (!replicas) return register(ctx, caller, registration, req, res);
  try {
    // One registration at a time across the replicas, on fresh copies of the name's claim and the ports.
    await replicas.whileRegistering(registration.name, () => register(ctx, caller, registration, req, res));
  } catch (error) {
    if (res.headersSent) throw error;
    ctx.logger.warn('registration failed: shared registry unavailable', { tunnel: registration.name, error: (error as Error).message });
    replyRegistryUnavailable(res);
  }
}

/** Decides on the name, port and session of one registration, and answers it. */
async function register(
  ctx: ServerContext,
  caller: Caller,
  registration: RegisterRequest,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const existing = ctx.registry.get(registration.name);
  const activity = { live: existing !== undefined && existing.state !== 'stopped', lastPollAt: existing?.lastPollAt };
  const decision = decideNameClaim(ctx.claims, caller, registration.name, registration.claimKey, activity, ctx.config.claimTtlMs);
  if (!decision.allowed) {
    ctx.logger.warn('registration refused', {
      tunnel: registration.name,
      error: decision.code,
      user: caller.user ?? undefined,
      source: req.socket.remoteAddress,
    });
    replyError(res, decision.code === 'name_in_use' ? 409 : 403, decision.code, decision.message);
    return;
  }
  const quota = checkTunnelQuota(ctx, caller, registration.name);
  if (quota) {
    replyError(res, 429, 'too_many_tunnels', quota);
    return;
  }
  const port = await reservePort(ctx, registration);
  if (port === undefined) {
    const range = ctx.config.tunnelPorts;
    replyError(
      res,
      503,
      'no_free_port',
      noFreePortMessage(describeRange(ctx), range ? range.to - range.from + 1 : null, ctx.portPool?.retiredPorts() ?? []),
    );
    return;
  }
  ctx.claims.set(decision.claim);
  let expiresAt = Date.now() + Math.min(registration.ttlMs ?? Infinity, ctx.config.maxTtlMs);
  // Its holder coming back to a live tunnel (a reconnect) does not extend the tunnel's life.
  if (decision.resumed && existing && existing.state !== 'stopped' && existing.expiresAt > Date.now())
    expiresAt = Math.min(expiresAt, existing.expiresAt);
  let tunnel = ctx.registry.get(registration.name);
  if (tunnel) {
    tunnel.startSession(registration, expiresAt, port);
  } else {
    tunnel = new Tunnel(registration.name, port, registration, expiresAt, sessionLimits(ctx), ctx.handed);
    ctx.registry.add(tunnel);
  }
  tunnel.user = caller.user;
  if (caller.user !== null) tunnel.owner = caller.user;
  // A resumed private tunnel keeps its access key, so the links already shared keep working.
  tunnel.privateAccessKey = registration.private
    ? ((decision.resumed ? tunnel.privateAccessKey : null) ?? ctx.privateAccess.newAccessKey())
    : null;
  tunnel.replicas = ctx.replicas?.view ?? null;
  tunnel.checkAtStart = registration.checkAtStart === true;
  // Answered only once stored: the client's next call may land on any replica, which must be able to read the session.
  if (ctx.replicas && !(await ctx.replicas.saveSession(tunnel))) throw new Error('the new session could not be stored in redis');
  ctx.logger.info('registered tunnel', {
    tunnel: registration.name,
    port,
    target: registration.target,
    owner: tunnel.owner,
    resumed: decision.resumed,
    ...(decision.takenOver ? { takenOverByAdmin: true } : {}),
    ...(tunnel.privateAccessKey ? { private: true } : {}),
  });
  const body: RegisterResponse = {
    name: registration.name,
    sessionId: tunnel.session.id,
    port,
    expiresAt: new Date(expiresAt).toISOString(),
    pollTimeoutMs: ctx.config.pollTimeoutMs,
    requestTimeoutMs: ctx.config.requestTimeoutMs,
    protocol: PROTOCOL_VERSION,
    features: [...PROTOCOL_FEATURES],
    urls: publicUrlsFor(ctx.config.publicUrls, registration.name, port, req.headers.host),
    ...(decision.claimKey ? { claimKey: decision.claimKey } : {}),
    ...(tunnel.privateAccessKey ? { accessKey: tunnel.privateAccessKey } : {}),
  };
  replyJson(res, 201, body);
}

/** The tunnel's port: null without port mode, undefined when none is free. */
async function reservePort(ctx: ServerContext, registration: RegisterRequest): Promise<number | null | undefined> {
  const pool = ctx.portPool;
  if (!pool) return null;
  const isLive = (name: string) => name !== registration.name && ctx.registry.get(name)?.isOnline === true;
  // Bounded: every failed port is retired, so the pool shrinks each round.
  for (let attempt = 0; attempt < 65536; attempt++) {
    const port = pool.reserve(registration.name, registration.port, isLive);
    if (port === null) return undefined;
    if (await ctx.publicPorts.ensureOpen(port)) return port;
    ctx.logger.warn('tunnel port is in use by another process, skipping it', { port });
    pool.retire(port);
  }
  return undefined;
}

function sessionLimits(ctx: ServerContext) {
  return { pollTimeoutMs: ctx.config.pollTimeoutMs, maxQueuedRequests: ctx.config.maxQueuedRequests };
}

function describeRange(ctx: ServerContext): string {
  const range = ctx.config.tunnelPorts;
  return range ? `${range.from}-${range.to}` : 'the port range';
}
