/**
 * URL-valued flags (--server, --fallback): read the way people type them. `127.0.0.1:21080` or
 * `shop.default.svc:80` has no scheme, and `new URL()` reads it as a URL with the scheme
 * "127.0.0.1:" or "shop.default.svc:", so the error named a cut value or only said
 * "Invalid URL". A bare host[:port] means http://host[:port]; errors name the flag and the value.
 */

import { ConfigError } from './errors';

/** host, host:port, [v6]:port, optionally followed by a path: a URL whose "http://" was left out. */
const SCHEMELESS = /^(\[[0-9a-f:.]+\]|[a-z0-9][a-z0-9.-]*)(:\d{1,5})?(\/.*)?$/i;

/** Parses the value of `--<flag>` as an http(s) URL, adding http:// to a bare host[:port]; throws ConfigError. */
export function parseUrlFlag(flag: string, text: string, example: string): URL {
  const trimmed = text.trim();
  const withScheme = !trimmed.includes('://') && SCHEMELESS.test(trimmed) ? `http://${trimmed}` : trimmed;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ConfigError(`--${flag} "${text}" is not a URL, e.g. ${example}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`--${flag} "${text}" must be an http:// or https:// URL, e.g. ${example}`);
  return url;
}
