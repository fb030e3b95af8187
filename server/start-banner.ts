/**
 * What the server says when it is up: where the dashboard is, which routing modes are on,
 * where unselected traffic goes, and the exact `standin connect` line to hand to developers.
 * JSON logs get the same facts as fields of the "standin server listening" line.
 */

import type { ServerConfig } from './config';

/** The start facts, as log fields. */
export interface StartFacts {
  dashboardUrl: string;
  portMode: string;
  selectorMode: string;
  fallback: string;
  connectCommand: string;
}

/** The facts for a server listening on `mainPort`. */
export function describeStart(config: ServerConfig, mainPort: number): StartFacts {
  const origin = `http://${hostForLinks(config.bindAddress)}:${mainPort}`;
  const range = config.tunnelPorts ? `${config.tunnelPorts.from}-${config.tunnelPorts.to}` : null;
  return {
    dashboardUrl: `${origin}/_standin/`,
    portMode: range ? `on: each tunnel gets a port of ${range}` : 'off (--ports none)',
    selectorMode: `on: main port ${mainPort}, by header X-Standin-Tunnel, cookie standin-tunnel or host <name>.<domain>`,
    fallback: config.fallback ? config.fallback.origin : 'none: main-port traffic that selects no tunnel gets 404 no_tunnel',
    // The token's value never goes to a log: the developer gets it from the platform team.
    connectCommand: `${config.token || config.tokensFile || config.oidc ? 'STANDIN_TOKEN=<token> ' : ''}standin connect 3000 --server ${origin}`,
  };
}

/** The banner for a terminal. */
export function formatStartBanner(facts: StartFacts): string {
  return [
    '',
    `  standin server is up`,
    `  Dashboard      ${facts.dashboardUrl}`,
    `  Port mode      ${facts.portMode}`,
    `  Selector mode  ${facts.selectorMode}`,
    `  Fallback       ${facts.fallback}`,
    '',
    '  Developers connect with (from another machine, use the URL that reaches this one):',
    `    ${facts.connectCommand}`,
    '',
  ].join('\n');
}

/** A host a browser on this machine can use for the bind address (0.0.0.0 and :: are not addresses to visit). */
function hostForLinks(bindAddress: string): string {
  if (bindAddress === '0.0.0.0' || bindAddress === '::') return 'localhost';
  return bindAddress.includes(':') ? `[${bindAddress}]` : bindAddress;
}
