/**
 * The answer a browser gets when standin itself, not the app, answers: the status from
 * docs/design.md "Errors", `X-Standin-Error: <code>`, and a short page (JSON when the request asks for JSON)
 * that says what happened and what to do.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { STANDIN_ERROR_STATUS, type StandinErrorCode } from '#shared/protocol/error-codes';
import { HEADER, TUNNEL_COOKIE } from '#shared/protocol/headers';
import { NO_TUNNEL_NAME, PATHS } from '#shared/protocol/paths';
import { readCookie } from './read-cookie';

/** What the page says about one error. */
export interface StandinErrorDetails {
  requestId: string;
  tunnel?: string;
  /** What happened, in a sentence; a default per code is used when absent. */
  message?: string;
  /** What to do, when it depends on the request; the advice per code is used when absent. */
  advice?: string;
  /** Links to offer (the select links of the connected tunnels on a no_tunnel page). */
  links?: Array<{ href: string; text: string }>;
}

const TITLES: Record<StandinErrorCode, string> = {
  app_unreachable: 'Your local app is not reachable',
  app_error: 'Your local app broke the response',
  tunnel_offline: 'This tunnel is offline',
  tunnel_expired: 'This tunnel has expired',
  queue_full: 'Too many requests are waiting for this tunnel',
  upgrade_limit: 'Too many open WebSockets on this tunnel',
  no_tunnel: 'No tunnel selected',
  timeout: 'Your local app did not answer in time',
  fallback_unreachable: 'The cluster app behind standin is not reachable',
  head_too_large: 'The request headers are too large for the tunnel',
  tunnel_private: 'This tunnel is private',
};

const ADVICE: Record<StandinErrorCode, string> = {
  app_unreachable: 'Start your app, or check the port or URL you gave "standin connect".',
  app_error: "Look in your app's log for this request id.",
  tunnel_offline: 'Run "standin connect" again on the developer machine, or wait a moment if it is reconnecting.',
  tunnel_expired: 'Run "standin connect" again (or keep it running with --renew).',
  queue_full: 'Retry in a moment; the client serves --concurrency requests at a time.',
  upgrade_limit: 'Close other tabs or connections of this app, or raise --max-upgrades on the standin server.',
  no_tunnel: 'Select a tunnel: open /_standin/select/<name>, or send the header "X-Standin-Tunnel: <name>".',
  timeout: 'Check the app for a request that hangs; the server waits --request-timeout for a response head.',
  fallback_unreachable:
    "Check that the in-cluster app standin's --fallback points at is running; or select a tunnel to reach a developer's app.",
  head_too_large:
    'Send fewer or smaller cookies and headers, or lower the standin server --max-header-size so such requests get 431 at once.',
  tunnel_private:
    'Open the access link that "standin connect --private" printed (/_standin/select/<name>?key=…) in this browser, or ask the developer for it.',
};

/** Sends a standin error page, unless a response head has already gone out (then the socket is cut). */
export function sendStandinError(req: IncomingMessage, res: ServerResponse, code: StandinErrorCode, details: StandinErrorDetails): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = STANDIN_ERROR_STATUS[code];
  const message = details.message ?? TITLES[code];
  const wantsJson = prefersJson(req.headers.accept);
  const advice = details.advice ?? ADVICE[code] + staleCookieAdvice(req, code, details.tunnel);
  const body = wantsJson
    ? JSON.stringify({
        error: code,
        message,
        advice,
        requestId: details.requestId,
        tunnel: details.tunnel,
        ...(details.links ? { links: details.links } : {}),
      })
    : renderHtml(code, status, message, { ...details, advice });
  res.writeHead(status, {
    'content-type': wantsJson ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    [HEADER.error]: code,
    [HEADER.requestId]: details.requestId,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * A browser whose standin-tunnel cookie names a tunnel that is gone keeps getting this page on
 * every visit until the cookie goes: say how to clear it, not only "run standin connect again"
 * (which only the tunnel's developer can do).
 */
function staleCookieAdvice(req: IncomingMessage, code: StandinErrorCode, tunnel: string | undefined): string {
  if (code !== 'tunnel_offline' && code !== 'tunnel_expired') return '';
  if (!tunnel || req.headers[HEADER.tunnel] !== undefined) return '';
  if (readCookie(req.headers.cookie, TUNNEL_COOKIE)?.toLowerCase() !== tunnel) return '';
  return ` This browser selected the tunnel with the ${TUNNEL_COOKIE} cookie: open ${PATHS.select(NO_TUNNEL_NAME)} on this site to clear it and get the site's own app again.`;
}

function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.includes('json') && !accept.includes('text/html');
}

function renderHtml(code: StandinErrorCode, status: number, message: string, details: StandinErrorDetails): string {
  const tunnel = details.tunnel ? `<dt>Tunnel</dt><dd>${escapeHtml(details.tunnel)}</dd>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${status} ${escapeHtml(TITLES[code])} · standin</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}code,dd{font-family:ui-monospace,monospace}dt{font-weight:600}dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem 1rem}</style></head>
<body><h1>${escapeHtml(TITLES[code])}</h1>
<p>${escapeHtml(message)}</p>
<p><strong>What to do:</strong> ${escapeHtml(details.advice ?? ADVICE[code])}</p>${renderLinks(details.links)}
<dl><dt>Error</dt><dd>${status} ${code}</dd>${tunnel}<dt>Request id</dt><dd>${escapeHtml(details.requestId)}</dd></dl>
<p><small>Answered by standin, not by the app.</small></p></body></html>
`;
}

function renderLinks(links: StandinErrorDetails['links']): string {
  if (!links || links.length === 0) return '';
  return `<ul>${links.map((link) => `<li><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></li>`).join('')}</ul>`;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
