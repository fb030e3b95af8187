/**
 * --tokens-file: per-developer tokens, as a platform team keeps them in a Kubernetes Secret.
 *
 *     users:
 *       - name: alice
 *         tokenSha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *         names: ["alice", "alice-*", "shop-alice"]   # optional; default <name> and <name>-*
 *       - name: ops
 *         tokenSha256: …
 *         admin: true
 *
 * Only token hashes are stored, so the Secret never holds a usable token. The file is re-read
 * when its content changes (a Secret update swaps the mounted file), so a rotated token needs
 * no restart; a file that no longer parses keeps the last good users and logs why.
 */

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import type { Caller } from './caller';
import { compileNameGlob, defaultNameGlobs } from './name-glob';

/** How often the file is read to notice a change; Secret updates reach the pod within a minute anyway. */
export const TOKENS_FILE_CHECK_INTERVAL_MS = 1_000;

/** Largest tokens file read; a Secret is at most 1 MiB. */
const MAX_TOKENS_FILE_BYTES = 1024 * 1024;

/** One user of the tokens file, ready to match. */
interface TokensFileUser {
  caller: Caller;
  tokenSha256: string;
}

/** The users of a tokens file, by the SHA-256 of their token; re-read when the file changes. */
export class TokensFile {
  private byTokenHash = new Map<string, Caller>();
  private lastText: string | undefined;
  private readonly timer: NodeJS.Timeout;

  /** Reads `path` now (throws if the first read fails: a server must not start with no users) and watches it. */
  constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {
    let text: string;
    try {
      text = readTokensFile(path);
      this.byTokenHash = indexUsers(parseTokensFile(text));
    } catch (error) {
      throw new ConfigError(`--tokens-file ${path}: ${(error as Error).message}`, { cause: error });
    }
    this.lastText = text;
    this.timer = setInterval(() => this.reloadIfChanged(), TOKENS_FILE_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** The user whose token this is, or undefined. */
  find(token: string): Caller | undefined {
    return this.byTokenHash.get(sha256Hex(token));
  }

  /** Number of users loaded (for the start-up log line). */
  get size(): number {
    return this.byTokenHash.size;
  }

  /** Stops watching the file. */
  close(): void {
    clearInterval(this.timer);
  }

  /** Re-reads the file; a change that parses replaces the users, one that does not is logged and ignored. */
  reloadIfChanged(): void {
    let text: string;
    try {
      text = readTokensFile(this.path);
    } catch (error) {
      this.logger.warn('tokens file unreadable, keeping the last good one', { file: this.path, error: (error as Error).message });
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    try {
      this.byTokenHash = indexUsers(parseTokensFile(text));
      this.logger.info('tokens file reloaded', { file: this.path, users: this.byTokenHash.size });
    } catch (error) {
      this.logger.warn('tokens file is malformed, keeping the last good one', { file: this.path, error: (error as Error).message });
    }
  }
}

/** SHA-256 of a token as lower-case hex, as `tokenSha256` holds it (`printf %s "$TOKEN" | sha256sum`). */
export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function readTokensFile(path: string): string {
  const stat = fs.statSync(path);
  if (stat.size > MAX_TOKENS_FILE_BYTES) throw new Error(`larger than ${MAX_TOKENS_FILE_BYTES} bytes`);
  return fs.readFileSync(path, 'utf8');
}

/** Parses the YAML text of a tokens file, or throws an Error naming the first thing wrong (never a token). */
export function parseTokensFile(text: string): TokensFileUser[] {
  const document = parseYaml(text, { maxAliasCount: 0 }) as unknown;
  const users = (document as { users?: unknown } | null)?.users;
  if (!Array.isArray(users)) throw new Error('expected a top-level "users:" list');
  return users.map((entry, index) => parseUser(entry, index));
}

function parseUser(entry: unknown, index: number): TokensFileUser {
  const where = `users[${index}]`;
  if (typeof entry !== 'object' || entry === null) throw new Error(`${where} is not a mapping`);
  const { name, tokenSha256, names, admin } = entry as Record<string, unknown>;
  if (typeof name !== 'string' || !/^[^\s]{1,120}$/.test(name))
    throw new Error(`${where}.name must be a non-empty word of at most 120 characters`);
  if (typeof tokenSha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(tokenSha256))
    throw new Error(`${where}.tokenSha256 must be 64 hex digits (the SHA-256 of the token, not the token)`);
  if (admin !== undefined && typeof admin !== 'boolean') throw new Error(`${where}.admin must be true or false`);
  if (
    names !== undefined &&
    (!Array.isArray(names) || names.some((glob) => typeof glob !== 'string' || !/^[a-z0-9*?-]{1,63}$/i.test(glob)))
  ) {
    throw new Error(`${where}.names must be a list of tunnel-name globs like "alice-*"`);
  }
  const globs = ((names as string[] | undefined) ?? defaultNameGlobs(name)).map(compileNameGlob);
  const caller: Caller = Object.freeze({
    kind: 'user',
    user: name,
    admin: admin === true,
    mayRegister: (tunnel: string) => admin === true || globs.some((matches) => matches(tunnel)),
  });
  return { caller, tokenSha256: tokenSha256.toLowerCase() };
}

function indexUsers(users: TokensFileUser[]): Map<string, Caller> {
  const byHash = new Map<string, Caller>();
  for (const user of users) byHash.set(user.tokenSha256, user.caller);
  return byHash;
}
