/**
 * The dashboard at GET /_standin/: one static HTML page with inline CSS and JS (no build step,
 * nothing to install) that reads the open status API (shared/protocol/status-api.ts) every few seconds and
 * draws a card per tunnel. When the server wants a token (--status-access), the page asks for it
 * once in a form, keeps it in the tab's sessionStorage, and sends it with every call, "Test now"
 * and "Stop" included.
 */

import { LIST_HISTORY_LENGTH, STATUS_PATHS } from '#shared/protocol/status-api';
import { DASHBOARD_SCRIPT } from './dashboard-script';
import { DASHBOARD_STYLE } from './dashboard-style';

/** How often the page reloads the tunnel list. */
export const DASHBOARD_REFRESH_MS = 2_000;

/** The whole page; the same for every visitor (the data comes from the API). */
export function renderDashboardPage(options: { tokenRequired?: boolean } = {}): string {
  // tokenRequired: the empty state's connect line then names STANDIN_TOKEN (never the token itself).
  const settings = JSON.stringify({
    tunnelsUrl: STATUS_PATHS.tunnels,
    replicasUrl: STATUS_PATHS.replicas,
    refreshMs: DASHBOARD_REFRESH_MS,
    historyLength: LIST_HISTORY_LENGTH,
    tokenRequired: options.tokenRequired === true,
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>standin · tunnels</title>
<style>${DASHBOARD_STYLE}</style>
</head>
<body>
<header>
  <h1><span class="logo">standin</span> tunnels</h1>
  <div class="summary" id="summary">Loading…</div>
  <div class="identity"><a href="#" id="sign-in-link">Sign in</a><a href="#" id="sign-out" hidden>Sign out</a></div>
</header>
<form id="sign-in" hidden>
  <label for="token">Token</label>
  <input id="token" type="password" autocomplete="off" placeholder="your standin token (or the admin token)">
  <button type="submit">Sign in</button>
  <span id="sign-in-message" class="note"></span>
</form>
<main id="tunnels" aria-live="polite"></main>
<p class="empty" id="empty" hidden>No tunnels yet. Run <code id="connect-hint">standin connect 3000 --server &lt;this server&gt;</code> on a developer machine.</p>
<footer>Refreshes every ${DASHBOARD_REFRESH_MS / 1000} s · <a href="${STATUS_PATHS.tunnels}">JSON</a> · <a href="${STATUS_PATHS.metrics}">metrics</a></footer>
<script>const STANDIN = ${settings};
${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;
}
