/**
 * Turns a request's `Authorization: Bearer <credential>` into a Caller: the admin token, the
 * shared client token, a --tokens-file user or an OIDC user, tried in that order. Failed
 * attempts are logged (source address, never the credential) and limited per source.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '#shared/logger';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { ADMIN_TOKEN_CALLER, OPEN_CALLER, SHARED_TOKEN_CALLER, type Caller } from './caller';
import { OidcVerifier, type OidcSettings } from './oidc-verifier';
import { TokensFile } from './tokens-file';

/** The credentials a server accepts. */
export interface AuthSettings {
  /** The shared client token, or null. */
  token: string | null;
  adminToken: string | null;
  tokensFile: string | null;
  oidc: OidcSettings | null;
}

/** The outcome of one authentication. */
export type AuthOutcome =
  | { ok: true; caller: Caller }
  /** `rateLimited`: the source failed too often and its credential was not even checked. */
  | { ok: false; rateLimited: boolean; retryAfterSeconds: number };

/** A JWT has three base64url parts; tokens-file and shared tokens are compared as plain strings. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

/** Longest credential looked at; a bigger one is refused without hashing or parsing it. */
const MAX_CREDENTIAL_CHARS = 8 * 1024;

export class ClientAuthenticator {
  private readonly isSharedToken: (credential: string) => boolean;
  private readonly isAdminToken: (credential: string) => boolean;
  private readonly tokensFile: TokensFile | null;
  private readonly oidc: OidcVerifier | null;
  private readonly failures = new AuthFailureLimiter();

  constructor(
    settings: AuthSettings,
    private readonly logger: Logger,
  ) {
    this.isSharedToken = constantTimeMatcher(settings.token);
    this.isAdminToken = constantTimeMatcher(settings.adminToken);
    this.tokensFile = settings.tokensFile ? new TokensFile(settings.tokensFile, logger) : null;
    this.oidc = settings.oidc ? new OidcVerifier(settings.oidc, logger) : null;
    this.hasClientAuth = settings.token !== null || this.tokensFile !== null || this.oidc !== null;
    this.hasPersonalIdentity = this.tokensFile !== null || this.oidc !== null;
  }

  /** Whether clients must authenticate at all (else everyone is the open caller). */
  readonly hasClientAuth: boolean;

  /** Whether callers can be individual developers (tokens file or OIDC). */
  readonly hasPersonalIdentity: boolean;

  /** Users in the tokens file now, or null without one. */
  get tokensFileUsers(): number | null {
    return this.tokensFile?.size ?? null;
  }

  /**
   * Who sent `req`. Without any credential on a server with no client auth, the open caller;
   * `open` also lets an anonymous request pass on a server with auth (the status pages in
   * --status-access open), which then only counts as a failure when a credential was sent.
   */
  async authenticate(req: IncomingMessage, options: { anonymousAllowed?: boolean } = {}): Promise<AuthOutcome> {
    const source = req.socket.remoteAddress ?? 'unknown';
    if (this.failures.isBlocked(source))
      return { ok: false, rateLimited: true, retryAfterSeconds: this.failures.retryAfterSeconds(source) };
    const credential = bearerCredential(req.headers.authorization);
    if (credential === undefined && (!this.hasClientAuth || options.anonymousAllowed)) return { ok: true, caller: OPEN_CALLER };
    const caller = credential === undefined ? undefined : await this.identify(credential);
    if (caller) return { ok: true, caller };
    // An open server ignores a credential it does not know (a client configured with a token still works).
    if (!this.hasClientAuth) return { ok: true, caller: OPEN_CALLER };
    this.failures.recordFailure(source);
    this.logger.warn('authentication failed', {
      source,
      path: (req.url ?? '').split('?')[0].slice(0, 100),
      credential: credential === undefined ? 'none' : 'refused',
    });
    return { ok: false, rateLimited: false, retryAfterSeconds: 0 };
  }

  /** Stops watching the tokens file. */
  close(): void {
    this.tokensFile?.close();
  }

  private async identify(credential: string): Promise<Caller | undefined> {
    if (credential.length > MAX_CREDENTIAL_CHARS) return undefined;
    if (this.isAdminToken(credential)) return ADMIN_TOKEN_CALLER;
    if (this.isSharedToken(credential)) return SHARED_TOKEN_CALLER;
    const user = this.tokensFile?.find(credential);
    if (user) return user;
    if (this.oidc && JWT_SHAPE.test(credential)) return this.oidc.verify(credential);
    return undefined;
  }
}

/** The credential of `Authorization: Bearer <credential>`, or undefined. */
function bearerCredential(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

/** Compares with `secret` in constant time (digests make the lengths equal); never matches without a secret. */
function constantTimeMatcher(secret: string | null): (credential: string) => boolean {
  if (secret === null) return () => false;
  const expected = digest(secret);
  return (credential) => timingSafeEqual(digest(credential), expected);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
