/**
 * The links that reach a tunnel from a browser. Only the server knows how browsers reach it
 * (which host the cluster proxy sends /_standin/select/ to, whether tunnel ports are published
 * at all), so it builds the links and the client and the dashboard show exactly these.
 */

import type { PublicUrls } from '#shared/protocol/messages';
import { PATHS, TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';

/** How browsers reach this server, from --site, --host-url and --port-url. */
export interface PublicUrlSettings {
  /** Origin of the test site whose proxy sends /_standin/select/ here, or null. */
  site: URL | null;
  /** A URL with `{name}`, e.g. `https://{name}.dev.example.test`, or null. */
  hostUrlTemplate: string | null;
  /** A URL with `{port}`, e.g. `https://standin.example.test:{port}`, or null for the default. */
  portUrlTemplate: string | null;
}

/**
 * The links for tunnel `name` on `port` (null without port mode). `requestHost` is the Host
 * header the client (or the dashboard's browser) used to reach the server: the default port
 * link uses that host, since it is the only one known to reach this server.
 */
export function publicUrlsFor(settings: PublicUrlSettings, name: string, port: number | null, requestHost: string | undefined): PublicUrls {
  const urls: PublicUrls = {};
  // Names are DNS labels (checked at registration); checked again because they end up in links.
  if (!TUNNEL_NAME_PATTERN.test(name)) return urls;
  if (settings.site) urls.select = new URL(PATHS.select(name), settings.site).href;
  if (settings.hostUrlTemplate) urls.host = new URL(settings.hostUrlTemplate.replaceAll('{name}', name)).href;
  if (port !== null) {
    const portUrl = settings.portUrlTemplate
      ? settings.portUrlTemplate.replaceAll('{port}', String(port))
      : defaultPortUrl(requestHost, port);
    if (portUrl) urls.port = new URL(portUrl).href;
  }
  return urls;
}

/** `http://<host>:<port>/`, or undefined when the Host header is missing or not a plain host. */
function defaultPortUrl(requestHost: string | undefined, port: number): string | undefined {
  // Checked as text, not with new URL(), which reads "a@b" as credentials and "a/b" as a path.
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/i.exec(requestHost ?? '');
  return match ? `http://${match[1].toLowerCase()}:${port}/` : undefined;
}

/** Checks a --host-url or --port-url template: an http(s) URL with `placeholder` in it; returns an error message or null. */
export function checkUrlTemplate(template: string, placeholder: '{name}' | '{port}', example: string): string | null {
  if (!template.includes(placeholder)) return `must contain ${placeholder}, e.g. ${example}`;
  let url: URL;
  try {
    url = new URL(template.replaceAll(placeholder, placeholder === '{name}' ? 'name' : '9000'));
  } catch {
    return `is not a URL, e.g. ${example}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be an http:// or https:// URL, e.g. ${example}`;
  return null;
}
