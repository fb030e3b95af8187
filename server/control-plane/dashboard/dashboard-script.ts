/**
 * The dashboard's browser script, inlined into the page (plain ES2017, no build step). It reads
 * `STANDIN` (settings the page defines), fetches the tunnel list, and redraws the cards. Every
 * text from the API goes through esc() before it meets innerHTML: owner and target come from clients.
 */
export const DASHBOARD_SCRIPT = String.raw`
'use strict';
var tunnelsEl = document.getElementById('tunnels');
var summaryEl = document.getElementById('summary');
var emptyEl = document.getElementById('empty');
var notes = {};
document.getElementById('connect-hint').textContent = (STANDIN.tokenRequired ? 'STANDIN_TOKEN=<token> ' : '') + 'standin connect 3000 --server ' + location.origin;

/*
 * The reader's token, asked for once and kept in sessionStorage (this tab only, gone when it
 * closes); every API call sends it, so owners, targets, "Test now" and "Stop" use one identity.
 */
var TOKEN_KEY = 'standin-token';
var signInEl = document.getElementById('sign-in');
var tokenInput = document.getElementById('token');
var signOutEl = document.getElementById('sign-out');
function token() { return sessionStorage.getItem(TOKEN_KEY); }
function authHeaders(extra) {
  var headers = extra || {};
  if (token()) headers.authorization = 'Bearer ' + token();
  return headers;
}
function showSignIn(message) {
  signInEl.hidden = false;
  document.getElementById('sign-in-message').textContent = message || '';
  tokenInput.focus();
}
signInEl.addEventListener('submit', function (event) {
  event.preventDefault();
  if (!tokenInput.value) return;
  sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
  tokenInput.value = '';
  signInEl.hidden = true;
  refresh();
});
signOutEl.addEventListener('click', function (event) {
  event.preventDefault();
  sessionStorage.removeItem(TOKEN_KEY);
  refresh();
});
document.getElementById('sign-in-link').addEventListener('click', function (event) {
  event.preventDefault();
  showSignIn('');
});

function esc(text) {
  return String(text == null ? '' : text).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; });
}

var STATE_COLOR = { active: 'green', pending: 'orange', stopped: 'grey' };
var HEALTH_COLOR = { healthy: 'green', degraded: 'orange', down: 'red', unknown: 'grey' };

function duration(ms) {
  var s = Math.max(0, Math.round(ms / 1000));
  var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  if (h > 0) return h + 'h ' + m + 'm';
  if (m > 0) return m + 'm ' + (s % 60) + 's';
  return s + 's';
}

/** "3h 12m left": red under 1 h, orange under 2 h; "Expired" once past. */
function timeLeft(t, now) {
  var left = Date.parse(t.expiresAt) - now;
  if (left <= 0 || t.stopReason === 'expired') return { text: 'Expired', color: 'red' };
  if (t.state === 'stopped') return { text: 'Stopped' + (t.stopReason === 'stopped' ? ' by an admin' : ''), color: 'grey' };
  return { text: duration(left) + ' left', color: left < 3600e3 ? 'red' : left < 7200e3 ? 'orange' : '' };
}

function ago(iso, now) {
  if (!iso) return 'never';
  return duration(now - Date.parse(iso)) + ' ago';
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  var units = ['KiB', 'MiB', 'GiB', 'TiB'], i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + ' ' + units[i];
}

/** Latency of the recent checks as an inline SVG line; failed checks are red marks on the baseline. */
function sparkline(history) {
  var w = 240, h = 36, pad = 3;
  if (!history.length) return '<svg class="spark" viewBox="0 0 ' + w + ' ' + h + '" role="img" aria-label="no checks yet"><text x="0" y="22" fill="#9aa1ae" font-size="11">no checks yet</text></svg>';
  var values = history.map(function (c) { return c.ok ? c.latencyMs : null; });
  var max = Math.max.apply(null, values.filter(function (v) { return v != null; }).concat([1]));
  var step = history.length > 1 ? (w - 2 * pad) / (history.length - 1) : 0;
  var x = function (i) { return (pad + i * step).toFixed(1); };
  var y = function (v) { return (h - pad - (v / max) * (h - 2 * pad)).toFixed(1); };
  var path = '', marks = '';
  values.forEach(function (v, i) {
    if (v == null) { marks += '<rect x="' + (x(i) - 1.5) + '" y="' + (h - 8) + '" width="3" height="8" fill="#c62828"/>'; path += ' '; return; }
    path += (path.length && path[path.length - 1] !== ' ' ? 'L' : 'M') + x(i) + ' ' + y(v);
  });
  var last = values[values.length - 1];
  var dot = last == null ? '' : '<circle cx="' + x(values.length - 1) + '" cy="' + y(last) + '" r="2.5" fill="#2563eb"/>';
  return '<svg class="spark" viewBox="0 0 ' + w + ' ' + h + '" preserveAspectRatio="none" role="img" aria-label="latency of the last ' + history.length + ' checks">' +
    '<path d="' + path.trim() + '" fill="none" stroke="#2563eb" stroke-width="1.5" vector-effect="non-scaling-stroke"/>' + marks + dot + '</svg>';
}

/*
 * ===== Request inspector hook =====
 * Returns the HTML of a "recent requests" link for tunnel t, shown in its card's
 * .recent-requests slot. Empty for now: the request inspector issue fills this in.
 */
function recentRequestsLink(t) {
  return '';
}

function link(href, text) {
  return '<a href="' + esc(href) + '">' + esc(text) + '</a>';
}

function card(t, now) {
  var left = timeLeft(t, now);
  var health = t.health;
  var note = notes[t.name];
  var stopped = t.state === 'stopped';
  // Links come from the server (--port-url, --host-url, --site): only the ones that work.
  var urls = t.urls || {};
  var portText = t.port == null ? '<span class="note">main port only</span>'
    : urls.port ? link(urls.port, String(t.port)) : esc(t.port);
  var links = [urls.host ? link(urls.host, 'host') : '', urls.select ? link(urls.select, 'select') : ''].filter(Boolean).join(' · ');
  return '<article class="card' + (stopped ? ' stopped' : '') + '" data-tunnel="' + esc(t.name) + '">' +
    '<div class="top"><span class="name">' + esc(t.name) + '</span>' +
      '<span class="chip state ' + (STATE_COLOR[t.state] || 'grey') + '" title="state">' + esc(t.state) + '</span>' +
      '<span class="chip health ' + (HEALTH_COLOR[health.status] || 'grey') + '" title="health">' + esc(health.status) + '</span></div>' +
    '<dl class="facts">' +
      '<dt>Port</dt><dd class="port">' + portText + '</dd>' +
      (links ? '<dt>Links</dt><dd class="links">' + links + '</dd>' : '') +
      '<dt>Time left</dt><dd class="left ' + left.color + '">' + esc(left.text) + '</dd>' +
      '<dt>Client</dt><dd class="client">' + (t.client.target == null ? '<span class="note">hidden: sign in as its owner</span>' : esc(t.client.owner || 'unknown') + ' → ' + esc(t.client.target)) + (t.private ? ' <span class="chip grey">private</span>' : '') + '</dd>' +
      '<dt>Last checked</dt><dd class="last-checked">' + esc(ago(health.lastCheckedAt, now)) + '</dd>' +
      '<dt>Last healthy</dt><dd class="last-healthy">' + esc(ago(health.lastHealthyAt, now)) + '</dd>' +
    '</dl>' +
    '<div class="counters">' +
      '<div><b>' + t.counters.requests + '</b><span>requests</span></div>' +
      '<div><b>' + t.counters.errors + '</b><span>errors</span></div>' +
      '<div><b>' + t.counters.inFlight + '</b><span>in flight</span></div>' +
      '<div title="open WebSockets"><b>' + t.counters.openUpgrades + '</b><span>sockets</span></div>' +
      '<div><b>' + bytes(t.counters.bytesIn) + '</b><span>in</span></div>' +
      '<div><b>' + bytes(t.counters.bytesOut) + '</b><span>out</span></div>' +
    '</div>' +
    '<div class="health">' + sparkline(health.history) +
      '<div class="spark-label">' + (health.latencyMs == null ? '–' : esc(Math.round(health.latencyMs * 10) / 10) + ' ms') +
      // Uptime is the share of passed checks over 24 h, while the chip is the state now: say
      // which is which, so "down" beside "100%" (the client just left) does not read as a contradiction.
      '<br>' + (health.uptimePct == null ? 'no checks yet' : esc(health.uptimePct) + '% of checks passed (24 h)') + '</div></div>' +
    '<div class="actions">' +
      '<button class="test" data-action="check"' + (stopped ? ' disabled' : '') + '>Test now</button>' +
      '<button class="stop" data-action="stop"' + (stopped ? ' disabled' : '') + '>Stop</button>' +
      '<span class="note ' + (note ? note.kind : '') + '">' + esc(note ? note.text : '') + '</span>' +
      '<span class="recent-requests">' + recentRequestsLink(t) + '</span>' +
    '</div>' +
  '</article>';
}

var STOPPED_SHOWN_MS = 60 * 60 * 1000;
var STATE_ORDER = { active: 0, pending: 1, stopped: 2 };
var lastTunnels = [];
function render(tunnels) {
  // Live tunnels first, stopped ones last; by name within each state, so cards do not jump around.
  tunnels = tunnels.slice().sort(function (a, b) { return (STATE_ORDER[a.state] - STATE_ORDER[b.state]) || (a.name < b.name ? -1 : 1); });
  lastTunnels = tunnels;
  var now = Date.now();
  // Stopped tunnels stay listed for an hour after they were last seen, then fold into a count,
  // so a day of restarts does not bury the live ones.
  var shown = tunnels.filter(function (t) { return t.state !== 'stopped' || now - Date.parse(t.lastSeenAt) < STOPPED_SHOWN_MS; });
  var hidden = tunnels.length - shown.length;
  tunnelsEl.innerHTML = shown.map(function (t) { return card(t, now); }).join('') +
    (hidden > 0 ? '<p class="note hidden-stopped">' + hidden + ' tunnel' + (hidden === 1 ? '' : 's') + ' stopped more than an hour ago not shown</p>' : '');
  emptyEl.hidden = tunnels.length > 0;
  var active = tunnels.filter(function (t) { return t.state === 'active'; }).length;
  var healthy = tunnels.filter(function (t) { return t.health.status === 'healthy'; }).length;
  summaryEl.textContent = tunnels.length + ' tunnel' + (tunnels.length === 1 ? '' : 's') + ' · ' + active + ' active · ' + healthy + ' healthy' + replicasText + ' · updated ' + new Date(now).toLocaleTimeString();
}

// Replica mode: how many replicas serve, and which one answered (a single server lists none).
var replicasText = '';
function refreshReplicas() {
  return fetch(STANDIN.replicasUrl, { headers: authHeaders({ accept: 'application/json' }), cache: 'no-store' })
    .then(function (r) { return r.ok ? r.json() : []; })
    .then(function (replicas) {
      if (!replicas.length) { replicasText = ''; return; }
      var self = replicas.filter(function (r) { return r.self; })[0];
      var draining = replicas.filter(function (r) { return r.draining; }).length;
      replicasText = ' · ' + replicas.length + ' replica' + (replicas.length === 1 ? '' : 's') + (draining ? ' (' + draining + ' draining)' : '') + (self ? ', this page from ' + self.id : '');
    })
    .catch(function () { replicasText = ''; });
}

function refresh() {
  signOutEl.hidden = !token();
  document.getElementById('sign-in-link').hidden = !!token();
  return refreshReplicas().then(function () { return fetch(STANDIN.tunnelsUrl, { headers: authHeaders({ accept: 'application/json' }), cache: 'no-store' }); })
    .then(function (r) {
      if (r.status === 401 || r.status === 403) {
        return r.json().then(function (body) {
          if (r.status === 401) sessionStorage.removeItem(TOKEN_KEY);
          showSignIn(body.message);
          throw new Error(body.message || ('HTTP ' + r.status));
        });
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    })
    .then(render)
    .catch(function (e) { summaryEl.textContent = 'Could not load tunnels: ' + e.message; });
}

function say(name, kind, text) {
  notes[name] = { kind: kind, text: text };
  render(lastTunnels);
}

function testNow(name) {
  say(name, '', 'Checking…');
  return fetch(STANDIN.tunnelsUrl + '/' + encodeURIComponent(name) + '/check', { method: 'POST', headers: authHeaders() })
    .then(function (r) { return r.json(); })
    .then(function (result) {
      if (!result.check) return say(name, 'bad', result.message || 'check failed');
      say(name, result.check.ok ? 'good' : 'bad', result.check.ok ? 'Healthy, ' + Math.round(result.check.latencyMs) + ' ms' : 'Failed: ' + result.check.error);
    })
    .catch(function (e) { say(name, 'bad', e.message); })
    .then(refresh);
}

function stop(name) {
  if (!token()) return showSignIn('Stopping a tunnel needs an admin token (or the owner\'s own token).');
  return fetch(STANDIN.tunnelsUrl + '/' + encodeURIComponent(name), { method: 'DELETE', headers: authHeaders() })
    .then(function (r) {
      return r.json().then(function (body) {
        if (r.ok) return say(name, 'good', 'Stopped');
        say(name, 'bad', body.message || ('HTTP ' + r.status));
      });
    })
    .catch(function (e) { say(name, 'bad', e.message); })
    .then(refresh);
}

tunnelsEl.addEventListener('click', function (event) {
  var button = event.target.closest('button[data-action]');
  if (!button) return;
  var name = button.closest('.card').getAttribute('data-tunnel');
  if (button.getAttribute('data-action') === 'check') testNow(name);
  else stop(name);
});

refresh();
setInterval(refresh, STANDIN.refreshMs);
`;
