/**
 * The client endpoints under /_standin/v1/, on plain node:http (the data path stays off Express:
 * poll and respond run once per browser request). The token is checked before routing, so an
 * unauthenticated caller learns nothing, not even which paths exist.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { StandinError } from '#shared/errors';
import { HEADER } from '#shared/protocol/headers';
import { isRegisterPath, parseTunnelPath, PATHS, REQUEST_ID_PATTERN, TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';
import { expectProtocolVersion } from '#shared/protocol/version';
import { replyError } from '../http/json-reply';
import { continueAfterResponse, handlePoll } from './poll';
import { OutboundCaller } from '../outbound/outbound-call';
import { handleCompare } from './compare';
import { handleRegister } from './register';
import { handleRelease } from './release';
import { handleRespond } from './respond';
import { handleRespondToSeveral } from './respond-to-several';
import type { ServerContext } from '../server-context';
import type { Caller } from '../identity/caller';
import type { AuthOutcome } from '../identity/client-authenticator';

/** Builds the handler for requests whose path starts with /_standin/v1/. */
export function createClientApi(ctx: ServerContext): (req: IncomingMessage, res: ServerResponse) => void {
  const outbound = new OutboundCaller(ctx);
  return (req, res) => {
    ctx.auth
      .authenticate(req)
      .then((outcome) => {
        if (!outcome.ok) return void refuseAuthentication(req, res, outcome);
        checkProtocolHeader(req);
        const done = route(ctx, outcome.caller, req, res, outbound);
        if (done) done.catch((error: unknown) => replyWithError(ctx, res, error));
      })
      .catch((error: unknown) => replyWithError(ctx, res, error));
  };
}

/** 401 for a wrong or missing credential, 429 (with Retry-After) once its source failed too often. */
function refuseAuthentication(req: IncomingMessage, res: ServerResponse, outcome: Extract<AuthOutcome, { ok: false }>): void {
  req.resume();
  if (outcome.rateLimited) {
    res.setHeader('retry-after', String(outcome.retryAfterSeconds));
    return replyError(
      res,
      429,
      'too_many_auth_failures',
      `too many failed authentications from this address; try again in ${outcome.retryAfterSeconds} s`,
    );
  }
  replyError(
    res,
    401,
    'unauthorized',
    'missing or wrong token: send "Authorization: Bearer <token>" with your token for this standin server',
  );
}

/**
 * The client answers other replicas pass on (replica mode, server/replicas/internal-port.ts):
 * the calling replica authenticated the client, so only the answer routes are open here, and
 * they are served on this replica, never passed on again.
 */
export function createInternalClientApi(ctx: ServerContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = parseTunnelPath(req.url ?? '');
    let done: Promise<void> | void;
    if (!path || !TUNNEL_NAME_PATTERN.test(path.name) || req.method !== 'POST')
      done = replyError(res, 404, 'not_found', 'no such internal endpoint');
    else if (path.requestId !== undefined && REQUEST_ID_PATTERN.test(path.requestId))
      done = handleRespond(ctx, path.name, path.requestId, req, res);
    else if (path.endpoint === 'respondToSeveral') done = handleRespondToSeveral(ctx, path.name, req, res, { forwarded: true });
    else done = replyError(res, 404, 'not_found', 'no such internal endpoint');
    if (done) done.catch((error: unknown) => replyWithError(ctx, res, error));
  };
}

function route(
  ctx: ServerContext,
  caller: Caller,
  req: IncomingMessage,
  res: ServerResponse,
  outbound: OutboundCaller,
): Promise<void> | void {
  const url = req.url ?? '';
  if (isRegisterPath(url)) {
    if (req.method === 'POST') return handleRegister(ctx, caller, req, res);
    return replyError(res, 405, 'bad_request', `${req.method} is not allowed on ${PATHS.register}; register with POST`);
  }
  const path = parseTunnelPath(url);
  if (!path) return replyError(res, 404, 'not_found', `no client endpoint at ${url.slice(0, 100)}`);
  const { endpoint, name, requestId } = path;
  if (!TUNNEL_NAME_PATTERN.test(name)) return replyError(res, 400, 'bad_request', 'tunnel name in the path is not a DNS label');
  if (endpoint === 'poll' && req.method === 'GET') return handlePoll(ctx, name, req, res);
  if (requestId !== undefined && req.method === 'POST') {
    if (!REQUEST_ID_PATTERN.test(requestId)) return replyError(res, 400, 'bad_request', 'request id in the path is not a uuid v4');
    // Replica mode: the answer goes to the replica holding the browser's socket (its tag is in the id).
    const replicas = ctx.replicas;
    if (!replicas) return handleRespond(ctx, name, requestId, req, res);
    const continueHere = () => continueAfterResponse(ctx, name, req.headers[HEADER.session], req, res);
    return replicas
      .forwardAnswerIfElsewhere(requestId, req, res, continueHere)
      .then((forwarded) => (forwarded ? undefined : handleRespond(ctx, name, requestId, req, res)));
  }
  if (endpoint === 'respondToSeveral' && req.method === 'POST') return handleRespondToSeveral(ctx, name, req, res);
  if (endpoint === 'outbound' && req.method === 'POST') return outbound.handle(name, req, res);
  if (endpoint === 'compare' && req.method === 'POST') return handleCompare(ctx, name, req, res);
  if (endpoint === 'release' && req.method === 'DELETE') return handleRelease(ctx, name, req, res);
  return replyError(res, 405, 'bad_request', `${req.method} is not allowed on ${url.split('?')[0]}`);
}

/**
 * Every call of a client carries its protocol version; a client of another version is refused
 * at once (400, naming both versions) instead of misreading frames. Registration checks the
 * version in its body too, so a client from before versioning (no header) is told as well.
 */
function checkProtocolHeader(req: IncomingMessage): void {
  const header = req.headers[HEADER.protocol];
  if (header === undefined && req.method === 'POST' && isRegisterPath(req.url ?? '')) return;
  expectProtocolVersion(typeof header === 'string' && /^\d{1,4}$/.test(header) ? Number(header) : header);
}

function replyWithError(ctx: ServerContext, res: ServerResponse, error: unknown): void {
  if (error instanceof StandinError) {
    const status = error.code === 'payload_too_large' ? 413 : 400;
    replyError(res, status, error.code === 'payload_too_large' ? 'payload_too_large' : 'bad_request', error.message);
    return;
  }
  ctx.logger.error('client API failed', { error: (error as Error).message, stack: (error as Error).stack });
  replyError(res, 500, 'internal_error', 'internal error in the standin server; see its log');
}
