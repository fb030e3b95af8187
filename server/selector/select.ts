/**
 * GET /_standin/select/<name>[?to=/path]: sets the cookie `standin-tunnel=<name>` and redirects
 * (302) to `to`, or to `/`; /_standin/select/none clears the cookie. A browser reaches it through
 * the site's own host (the cluster proxy sends /_standin/select/ to standin), so the cookie
 * belongs to the site and rides along on every later request to it.
 *
 * The tunnel need not be connected yet: until it is, requests go to the fallback.
 *
 * `?key=<access key>` is the access link of a private tunnel: it also sets the tunnel's signed
 * access cookie (identity/private-access.ts); a wrong key gets 403 tunnel_private.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { TUNNEL_COOKIE } from '#shared/protocol/headers';
import { NO_TUNNEL_NAME, SELECT_PREFIX, TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';
import { replyError } from '../http/json-reply';
import { replyToBrowserOrScript } from './browser-notice';
import { sendStandinError } from '../http/error-page';
import { newUuid } from '#shared/random-ids';
import type { ServerContext } from '../server-context';
import { forwardedProto } from '../http/trusted-proxies';

/** Whether `url` is for the select endpoint. */
export function isSelectPath(url: string): boolean {
  return url.startsWith(SELECT_PREFIX);
}

export function handleSelect(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    replyError(res, 405, 'bad_request', `${req.method} is not allowed on ${SELECT_PREFIX}<name>; open it with GET`);
    return;
  }
  const url = new URL(req.url ?? '/', 'http://standin.invalid');
  const name = url.pathname.slice(SELECT_PREFIX.length).replace(/\/$/, '').toLowerCase();
  if (!TUNNEL_NAME_PATTERN.test(name)) {
    replyToBrowserOrScript(
      req,
      res,
      400,
      'bad_request',
      'Not a tunnel name',
      `"${name.slice(0, 80)}" is not a tunnel name: use 1-63 of a-z, 0-9 and "-", or "${NO_TUNNEL_NAME}" to clear the selection`,
    );
    return;
  }
  const to = sameSiteRedirectTarget(url.searchParams.get('to') ?? '/');
  if (to === undefined) {
    replyToBrowserOrScript(
      req,
      res,
      400,
      'bad_request',
      'Not a path on this site',
      '"to" must be a path on this site starting with a single "/", like /shop/; other sites are not allowed',
    );
    return;
  }
  const cookies = [name === NO_TUNNEL_NAME ? clearCookie(req) : selectCookie(name, ctx.config.maxTtlMs, req)];
  const key = url.searchParams.get('key');
  if (key !== null && name !== NO_TUNNEL_NAME) {
    const access = privateAccessCookie(ctx, name, key, req);
    if (!access) {
      ctx.logger.warn('private tunnel access link refused', { tunnel: name, source: req.socket.remoteAddress });
      sendStandinError(req, res, 'tunnel_private', {
        requestId: newUuid(),
        tunnel: name,
        message: `This access link for tunnel ${name} is not valid (wrong key, or the tunnel was registered again).`,
      });
      return;
    }
    cookies.push(access);
  }
  // The key is never logged: it is the secret of a private tunnel.
  ctx.logger.info(name === NO_TUNNEL_NAME ? 'tunnel selection cleared' : 'tunnel selected', {
    tunnel: name === NO_TUNNEL_NAME ? undefined : name,
    to,
    ...(key !== null ? { withAccessKey: true } : {}),
  });
  res.writeHead(302, { location: to, 'set-cookie': cookies, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}

/** The signed access cookie of private tunnel `name` when `key` is its access key, else undefined. */
function privateAccessCookie(ctx: ServerContext, name: string, key: string, req: IncomingMessage): string | undefined {
  const tunnel = ctx.registry.get(name);
  const accessKey = tunnel?.privateAccessKey;
  if (!accessKey || !ctx.privateAccess.keyMatches(accessKey, key)) return undefined;
  const cookie = ctx.privateAccess.cookieFor(name, accessKey);
  return `${cookie.name}=${cookie.value}; Path=/; Max-Age=${Math.ceil(ctx.config.maxTtlMs / 1000)}; SameSite=Lax; HttpOnly${secureAttribute(req)}`;
}

/** A placeholder origin: `to` must resolve against it and stay on it. */
const THIS_SITE = 'http://standin.invalid';

/**
 * The `Location` value for `to`, or undefined when `to` is not a path on this same site. The
 * path is serialized by the URL parser, which percent-encodes everything outside ASCII: a
 * decoded `?to=/%E3%80%82` is `/。`, which Node refuses in a header value (and used to throw).
 */
export function sameSiteRedirectTarget(to: string): string | undefined {
  if (!isLocalPath(to)) return undefined;
  let target: URL;
  try {
    target = new URL(to, THIS_SITE);
  } catch {
    return undefined;
  }
  if (target.origin !== THIS_SITE) return undefined;
  return target.pathname + target.search + target.hash;
}

/**
 * An open-redirect guard: only a path on this same site. `//evil.example` and `/\evil.example`
 * are protocol-relative URLs to browsers (they treat `\` as `/`), and control characters or
 * spaces could be cut away on the way, so all of those are refused.
 */
export function isLocalPath(to: string): boolean {
  if (to.length === 0 || to.length > 2000) return false;
  if (!to.startsWith('/') || to.startsWith('//') || to.startsWith('/\\')) return false;
  return !/[\s\x00-\x1f\x7f\\]/.test(to);
}

/**
 * The cookie lives at most as long as any tunnel can (--max-ttl). HttpOnly: page scripts have no
 * business with it; SameSite=Lax: it still rides along when one follows a link to the site.
 */
function selectCookie(name: string, maxTtlMs: number, req: IncomingMessage): string {
  return `${TUNNEL_COOKIE}=${name}; Path=/; Max-Age=${Math.ceil(maxTtlMs / 1000)}; SameSite=Lax; HttpOnly${secureAttribute(req)}`;
}

function clearCookie(req: IncomingMessage): string {
  return `${TUNNEL_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax; HttpOnly${secureAttribute(req)}`;
}

/** `; Secure` when the browser came over https (directly, or as a trusted cluster proxy says). */
function secureAttribute(req: IncomingMessage): string {
  return forwardedProto(req) === 'https' ? '; Secure' : '';
}
