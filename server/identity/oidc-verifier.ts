/**
 * --oidc-issuer: bearer JWTs from the company's identity provider, verified with jose against
 * the issuer's JWKS (found through its discovery document). jose's remote key set caches the
 * keys and fetches them again when a token names a key it does not know, so a rotated signing
 * key is picked up without a restart.
 */

import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '#shared/logger';
import type { Caller } from './caller';
import { compileNameGlob, defaultNameGlobs } from './name-glob';

/** The --oidc-* settings. */
export interface OidcSettings {
  issuer: string;
  audience: string;
  /** The claim that names the user (default `email`). */
  userClaim: string;
}

/** Signature algorithms accepted: asymmetric only, so neither `none` nor a key-confusion HS256 token passes. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** How long a discovery or JWKS fetch may take. */
const FETCH_TIMEOUT_MS = 5_000;

/** A token naming an unknown key makes jose fetch the JWKS again, at most this often. */
const JWKS_REFETCH_COOLDOWN_MS = 1_000;

/** Keys are fetched again after this even when every token names a known key. */
const JWKS_MAX_AGE_MS = 10 * 60_000;

/** A failed discovery is retried on a later token, not more often than this. */
const DISCOVERY_RETRY_MS = 5_000;

/** Verifies OIDC bearer tokens. */
export class OidcVerifier {
  private keys: JWTVerifyGetKey | undefined;
  private discovering: Promise<JWTVerifyGetKey> | undefined;
  private lastDiscoveryFailureAt = 0;

  constructor(
    private readonly settings: OidcSettings,
    private readonly logger: Logger,
  ) {}

  /** The user of a valid token, or undefined (the reason goes to the debug log, never the token). */
  async verify(token: string): Promise<Caller | undefined> {
    let keys: JWTVerifyGetKey;
    try {
      keys = await this.keySet();
    } catch (error) {
      this.logger.warn('OIDC discovery failed', { issuer: this.settings.issuer, error: (error as Error).message });
      return undefined;
    }
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: ALGORITHMS,
      });
      const user = payload[this.settings.userClaim];
      if (typeof user !== 'string' || user.length === 0 || user.length > 200) {
        this.logger.debug('OIDC token has no usable user claim', { claim: this.settings.userClaim });
        return undefined;
      }
      return userCaller(user);
    } catch (error) {
      this.logger.debug('OIDC token refused', { reason: (error as { code?: string }).code ?? (error as Error).message });
      return undefined;
    }
  }

  private keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys) return Promise.resolve(this.keys);
    if (Date.now() - this.lastDiscoveryFailureAt < DISCOVERY_RETRY_MS) return Promise.reject(new Error('discovery failed moments ago'));
    this.discovering ??= discoverJwksUri(this.settings.issuer)
      .then((jwksUri) => {
        this.keys = createRemoteJWKSet(jwksUri, {
          timeoutDuration: FETCH_TIMEOUT_MS,
          cooldownDuration: JWKS_REFETCH_COOLDOWN_MS,
          cacheMaxAge: JWKS_MAX_AGE_MS,
        });
        return this.keys;
      })
      .catch((error: unknown) => {
        this.lastDiscoveryFailureAt = Date.now();
        throw error;
      })
      .finally(() => (this.discovering = undefined));
    return this.discovering;
  }
}

/** An OIDC user: may register `<local part>` and `<local part>-*` (alice@example.com → alice, alice-*). */
function userCaller(user: string): Caller {
  const globs = defaultNameGlobs(user).map(compileNameGlob);
  return Object.freeze({ kind: 'user', user, admin: false, mayRegister: (name: string) => globs.some((matches) => matches(name)) });
}

/** Reads `jwks_uri` from the issuer's discovery document (OpenID Connect Discovery 1.0 §4). */
async function discoverJwksUri(issuer: string): Promise<URL> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const document = (await response.json()) as { jwks_uri?: unknown; issuer?: unknown };
  if (typeof document.jwks_uri !== 'string') throw new Error(`${url} has no jwks_uri`);
  if (document.issuer !== undefined && document.issuer !== issuer)
    throw new Error(`${url} names issuer ${JSON.stringify(document.issuer).slice(0, 100)}, not ${issuer}`);
  return new URL(document.jwks_uri);
}
