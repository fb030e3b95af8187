/**
 * Private tunnels (`standin connect --private`): a private tunnel serves only browsers that
 * opened its access link, `/_standin/select/<name>?key=<access key>`. Opening it sets the cookie
 * `standin-access-<name>` whose value is an HMAC of the name and the access key under a secret
 * only this server knows; every request to the tunnel must carry it, else 403 tunnel_private.
 *
 * The cookie never contains the key itself, and a new access key (a new tunnel under the same
 * name) makes every old cookie worthless.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { readCookie } from '../http/read-cookie';

/** Cookie prefix; the tunnel name follows, so one browser can hold access to several tunnels. */
export const ACCESS_COOKIE_PREFIX = 'standin-access-';

/** Signs and checks access to private tunnels. */
export class PrivateAccess {
  constructor(private readonly secret: Buffer = randomBytes(32)) {}

  /** A fresh access key for a new private tunnel. */
  newAccessKey(): string {
    return randomBytes(24).toString('base64url');
  }

  /** Whether `presented` is the tunnel's access key. */
  keyMatches(accessKey: string, presented: string): boolean {
    return sameText(presented, accessKey);
  }

  /** The cookie (name and value) that admits a browser to private tunnel `name`. */
  cookieFor(name: string, accessKey: string): { name: string; value: string } {
    return { name: `${ACCESS_COOKIE_PREFIX}${name}`, value: this.sign(name, accessKey) };
  }

  /** Whether `req` carries a valid access cookie for private tunnel `name`. */
  admits(req: IncomingMessage, name: string, accessKey: string): boolean {
    const presented = readCookie(req.headers.cookie, `${ACCESS_COOKIE_PREFIX}${name}`);
    return presented !== undefined && sameText(presented, this.sign(name, accessKey));
  }

  private sign(name: string, accessKey: string): string {
    return createHmac('sha256', this.secret).update(`${name}\n${accessKey}`).digest('base64url');
  }
}

/** Constant-time string equality (lengths may differ; the comparison still takes the same time). */
function sameText(a: string, b: string): boolean {
  const left = createHmac('sha256', 'compare').update(a).digest();
  const right = createHmac('sha256', 'compare').update(b).digest();
  return timingSafeEqual(left, right);
}
