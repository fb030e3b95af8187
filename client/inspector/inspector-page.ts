/**
 * The inspector's single page: HTML with inline CSS and JS, no build step and no assets. The
 * list updates live from /api/events; a click loads /api/requests/<id>. Filtering is done by
 * the API (request-filter.ts), so the list, the page and the HAR export agree. Everything from
 * a request (paths, headers, bodies) is put in the page with textContent, never as HTML.
 */

/** The page's HTML. */
export function inspectorPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>standin inspector</title>
<style>${STYLE}</style>
</head>
<body>
<header><strong>standin</strong> inspector <span id="live" class="live">connecting…</span><span id="count" class="muted"></span>
  <span class="filters">
    <select id="f-method" aria-label="Method"><option value="">All methods</option>${['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].map((m) => `<option>${m}</option>`).join('')}</select>
    <select id="f-status" aria-label="Status"><option value="">All statuses</option><option>2xx</option><option>3xx</option><option>4xx</option><option>5xx</option><option value="error">standin errors</option></select>
    <input id="f-path" type="search" placeholder="Path contains" aria-label="Path contains">
    <input id="filter" type="search" placeholder="Search id, headers, bodies" aria-label="Search requests">
    <a id="har" class="button-link" href="/api/requests.har" download="standin-requests.har" title="Download the listed requests as a HAR file">HAR</a>
  </span></header>
<main>
  <section class="list">
    <table>
      <colgroup><col class="c-time"><col class="c-id"><col class="c-method"><col><col class="c-status"><col class="c-duration"></colgroup>
      <thead><tr><th>Time</th><th>Request id</th><th>Method</th><th>Path</th><th>Status</th><th class="num">Duration</th></tr></thead>
      <tbody id="rows"></tbody>
    </table>
    <p id="empty" class="muted pad">No requests yet. Open the tunnel's public URL and they appear here.</p>
  </section>
  <section class="detail" id="detail"><p class="muted pad">Click a request to see its headers, bodies and timings.</p></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>`;
}

const STYLE = `
:root { --bg:#0f1419; --panel:#161d26; --line:#243040; --text:#d8dee9; --muted:#7a8796; --accent:#5ab0f6; --ok:#5fd38d; --warn:#f2c35b; --err:#ff6b6b; }
* { box-sizing: border-box; }
body { margin:0; font:13px/1.45 ui-sans-serif, system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
header { padding:8px 16px; border-bottom:1px solid var(--line); background:var(--panel); font-size:15px; display:flex; gap:12px; align-items:center; flex-wrap:wrap; }
.live { font-size:12px; color:var(--muted); } .live.on { color:var(--ok); } .live.on::before { content:"● "; }
main { display:grid; grid-template-columns:minmax(0, 1fr) minmax(0, 1fr); height:calc(100vh - 44px); }
.filters { margin-left:auto; display:flex; gap:6px; align-items:center; }
.filters input, .filters select, .edit input, .edit textarea { background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:5px; padding:4px 8px; font:inherit; }
#filter { width:200px; } #f-path { width:130px; }
.button-link { color:var(--accent); border:1px solid var(--accent); border-radius:5px; padding:3px 10px; text-decoration:none; font-size:12px; font-weight:600; }
button.secondary { background:transparent; color:var(--accent); border:1px solid var(--accent); }
.edit { display:grid; grid-template-columns:max-content 1fr; gap:6px 10px; align-items:start; margin:8px 0; }
.edit textarea { font-family:ui-monospace, Menlo, Consolas, monospace; font-size:12px; min-height:90px; resize:vertical; }
.edit label { color:var(--muted); padding-top:5px; }
.compare { display:grid; grid-template-columns:1fr 1fr; gap:10px; }
.compare h4 { margin:0 0 4px; font-size:12px; color:var(--muted); }
.diff { background:#3a2a14; } .diff-local { background:#3a1d22; } .diff-cluster { background:#163322; }
table.hdiff td { white-space:normal; word-break:break-all; font-family:ui-monospace, Menlo, Consolas, monospace; font-size:12px; cursor:default; }
table.hdiff tr.expected { color:var(--muted); }
pre.lines span { display:block; } pre.lines span.diff-local::before { content:"- "; } pre.lines span.diff-cluster::before { content:"+ "; } pre.lines span.same::before { content:"  "; }
/* Fixed columns: a long path is cut with an ellipsis instead of pushing Status and Duration off-screen. */
table { table-layout:fixed; }
col.c-time { width:84px; } col.c-id { width:90px; } col.c-method { width:64px; } col.c-status { width:72px; } col.c-duration { width:72px; }
td { overflow:hidden; text-overflow:ellipsis; }
tr.filtered { display:none; }
.list { overflow:auto; border-right:1px solid var(--line); }
table { width:100%; border-collapse:collapse; }
th { position:sticky; top:0; background:var(--panel); text-align:left; font-weight:600; color:var(--muted); padding:6px 10px; border-bottom:1px solid var(--line); }
td { padding:6px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
td.path, td.id { font-family:ui-monospace, Menlo, Consolas, monospace; }
tbody tr { cursor:pointer; } tbody tr:hover { background:#1c2632; } tbody tr.selected { background:#203247; }
tr.fresh { animation: fresh 1.2s ease-out; } @keyframes fresh { from { background:#24415f; } }
.num { text-align:right; } .muted { color:var(--muted); } .pad { padding:12px 16px; }
.s2 { color:var(--ok); } .s3 { color:var(--accent); } .s4 { color:var(--warn); } .s5 { color:var(--err); }
.tag { font-size:11px; padding:1px 6px; border-radius:8px; background:#2b3a4d; color:var(--text); margin-left:6px; }
.tag.err { background:#4a2026; color:var(--err); }
.detail { overflow:auto; padding:14px 18px; }
.detail h2 { font-size:15px; margin:0 0 4px; font-family:ui-monospace, Menlo, Consolas, monospace; word-break:break-all; }
.detail h3 { font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); margin:18px 0 6px; }
.bar { display:flex; gap:10px; align-items:center; margin:8px 0; flex-wrap:wrap; }
button { background:var(--accent); color:#06121f; border:0; border-radius:5px; padding:6px 14px; font-weight:600; cursor:pointer; }
button:disabled { background:#3a4656; color:var(--muted); cursor:not-allowed; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:3px 14px; margin:0; font-family:ui-monospace, Menlo, Consolas, monospace; font-size:12px; }
dt { color:var(--muted); } dd { margin:0; word-break:break-all; }
pre { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:10px; margin:0; max-height:360px; overflow:auto; font-size:12px; white-space:pre-wrap; word-break:break-all; }
.timings { display:flex; gap:18px; } .timings div span { display:block; color:var(--muted); font-size:11px; }
`;

const SCRIPT = `
const rows = document.getElementById('rows');
const detail = document.getElementById('detail');
const MAX_ROWS = 500;
let selected = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'class') node.className = value; else if (key.startsWith('on')) node.addEventListener(key.slice(2), value); else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
const statusClass = (status) => 's' + String(status)[0];
const ms = (value) => value === undefined ? '–' : (value < 10 ? value.toFixed(1) : Math.round(value)) + ' ms';
const api = (id, action) => '/api/requests/' + encodeURIComponent(id) + (action || '');

function row(summary, fresh) {
  const tr = el('tr', { 'data-id': summary.id, class: fresh ? 'fresh' : '', onclick: () => show(summary.id) },
    el('td', { class: 'muted' }, new Date(summary.startedAt).toTimeString().slice(0, 8)),
    el('td', { class: 'id muted', title: summary.id }, summary.id.slice(0, 8)),
    el('td', {}, summary.method),
    el('td', { class: 'path', title: summary.path }, summary.outbound ? el('span', { class: 'tag' }, 'outbound') : null, summary.path, summary.replayOf ? el('span', { class: 'tag' }, 'replay') : null),
    el('td', { class: statusClass(summary.status) }, summary.status, summary.error ? el('span', { class: 'tag err' }, summary.error) : summary.outcome ? el('span', { class: 'tag' }, summary.outcome) : null),
    el('td', { class: 'num muted' }, ms(summary.durationMs)));
  if (summary.id === selected) tr.classList.add('selected');
  return tr;
}

// Filters: the API filters (GET /api/requests?method=&status=&path=&text=), the page only asks.
const filterFields = { method: 'f-method', status: 'f-status', path: 'f-path', text: 'filter' };
function filterQuery() {
  const params = new URLSearchParams();
  for (const [name, id] of Object.entries(filterFields)) { const value = document.getElementById(id).value.trim(); if (value) params.set(name, value); }
  return params.toString();
}
let total = 0;
function updateCount() {
  const query = filterQuery();
  document.getElementById('count').textContent = query ? rows.children.length + ' of ' + total + ' requests' : rows.children.length + ' requests';
  document.getElementById('empty').style.display = rows.children.length ? 'none' : '';
  document.getElementById('har').href = '/api/requests.har' + (query ? '?' + query : '');
}
let listGeneration = 0;
async function loadList() {
  const query = filterQuery();
  const generation = ++listGeneration;
  const response = await fetch('/api/requests' + (query ? '?' + query : ''));
  const list = await response.json();
  // A newer filter was typed while this one loaded: its answer wins.
  if (generation !== listGeneration) return;
  total = Number(response.headers.get('x-total-count') || list.length);
  rows.replaceChildren(...list.map((summary) => row(summary, false)));
  rows.dataset.query = query;
  updateCount();
}
let reloadTimer = null;
// At most one reload per 150 ms: a steady stream of requests must not postpone it forever.
function reloadSoon() { if (reloadTimer === null) reloadTimer = setTimeout(() => { reloadTimer = null; loadList(); }, 150); }
for (const id of Object.values(filterFields)) document.getElementById(id).addEventListener('input', reloadSoon);
function prepend(summary) {
  total++;
  // With a filter on, only the API knows whether the new request matches (it may search bodies).
  if (filterQuery()) return reloadSoon();
  if ([...rows.children].some((tr) => tr.dataset.id === summary.id)) return;
  rows.prepend(row(summary, true));
  while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
  updateCount();
}

function headerList(headers) {
  if (!headers.length) return el('p', { class: 'muted' }, 'none');
  return el('dl', {}, ...headers.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]));
}
function bodyView(body) {
  if (body.kind === 'empty') return el('p', { class: 'muted' }, 'no body');
  const size = body.totalBytes + ' bytes' + (body.truncated ? ', first part shown' : '');
  const label = el('p', { class: 'muted' }, body.kind + ' · ' + size);
  return el('div', {}, label, el('pre', {}, body.kind === 'binary' ? body.hex : body.text));
}
async function show(id) {
  selected = id;
  for (const tr of rows.children) tr.classList.toggle('selected', tr.dataset.id === id);
  const response = await fetch(api(id));
  if (!response.ok) { detail.replaceChildren(el('p', { class: 'muted pad' }, 'This request is no longer kept.')); return; }
  const r = await response.json();
  const note = el('span', { id: 'note', class: 'muted' }, r.replayRefusal || '');
  const panel = el('div', { id: 'panel' });
  const replayButton = el('button', { id: 'replay', onclick: () => replay(r.id, replayButton, note) }, 'Replay');
  const editButton = el('button', { id: 'edit', class: 'secondary', onclick: () => openEditor(r, panel) }, 'Edit and replay');
  const curlButton = el('button', { id: 'curl', class: 'secondary', onclick: () => copyCurl(r.id, panel, note) }, 'Copy as curl');
  const compareButton = el('button', { id: 'compare', class: 'secondary', onclick: () => compare(r.id, compareButton, panel, note) }, 'Compare with cluster');
  if (r.replayRefusal) replayButton.disabled = compareButton.disabled = true;
  if (r.outbound) editButton.disabled = true;
  detail.replaceChildren(...[
    el('h2', {}, (r.outbound ? 'outbound ' : '') + r.method + ' ' + r.path),
    el('div', { class: 'bar' },
      el('strong', { class: statusClass(r.status) }, r.status), r.error ? el('span', { class: 'tag err' }, r.error) : r.outcome ? el('span', { class: 'tag' }, r.outcome) : null,
      el('span', { class: 'muted' }, 'id ' + r.id), r.replayOf ? el('span', { class: 'tag' }, 'replay of ' + r.replayOf.slice(0, 8)) : null),
    el('div', { class: 'bar' }, replayButton, editButton, curlButton, compareButton, note),
    panel,
    r.errorMessage ? el('p', { class: 's5' }, r.errorMessage) : null,
    el('h3', {}, 'Timings'),
    el('div', { class: 'timings' },
      el('div', {}, el('span', {}, 'queued on server'), ms(r.timings.queuedMs)),
      el('div', {}, el('span', {}, 'app (to response head)'), ms(r.timings.appMs)),
      el('div', {}, el('span', {}, 'total'), ms(r.timings.totalMs)),
      el('div', {}, el('span', {}, 'bytes in / out'), r.bytesIn + ' / ' + r.bytesOut)),
    el('h3', {}, 'Request headers'), headerList(r.request.headers),
    el('h3', {}, 'Request body'), bodyView(r.request.body),
    el('h3', {}, 'Response headers'), headerList(r.response.headers),
    el('h3', {}, 'Response body'), bodyView(r.response.body)].filter(Boolean));
}
async function postAction(id, action, edits) {
  const init = { method: 'POST' };
  if (edits) { init.headers = { 'content-type': 'application/json' }; init.body = JSON.stringify(edits); }
  const response = await fetch(api(id, action), init);
  return { ok: response.ok, result: await response.json() };
}
async function replay(id, button, note, edits) {
  button.disabled = true;
  note.textContent = 'replaying…';
  try {
    const { ok, result } = await postAction(id, '/replay', edits);
    note.textContent = ok ? 'replayed as ' + result.id.slice(0, 8) + ': ' + result.status + (result.error ? ' ' + result.error : '') : result.message;
  } catch (error) {
    note.textContent = 'replay failed: ' + error.message;
  } finally {
    button.disabled = false;
  }
}

// Edit and replay: method, path, headers ("Name: value" per line) and body, sent as JSON edits.
async function openEditor(r, panel) {
  const method = el('input', { id: 'edit-method', value: r.method, size: '8' });
  const path = el('input', { id: 'edit-path', value: r.path });
  const headers = el('textarea', { id: 'edit-headers', rows: String(Math.min(12, r.request.headers.length + 1)) });
  headers.value = r.request.headers.filter(([name]) => !/^x-standin-/i.test(name)).map(([name, value]) => name + ': ' + value).join('\\n');
  const body = el('textarea', { id: 'edit-body' });
  const textBody = r.request.body.kind === 'empty' || ((r.request.body.kind === 'text' || r.request.body.kind === 'json') && !r.request.body.truncated);
  if (textBody && r.request.body.kind !== 'empty') body.value = await (await fetch(api(r.id, '/request-body'))).text();
  if (!textBody) { body.disabled = true; body.value = r.request.body.truncated ? 'The body was cut at capture; it cannot be edited.' : 'Binary body: sent unchanged.'; }
  const result = el('span', { id: 'edit-result', class: 'muted' });
  const send = el('button', { id: 'edit-send', onclick: () => {
    const edits = { method: method.value.trim(), path: path.value.trim(), headers: [] };
    for (const line of headers.value.split('\\n')) {
      if (!line.trim()) continue;
      const colon = line.indexOf(':');
      if (colon <= 0) { result.textContent = 'each header line must be "Name: value": ' + line.slice(0, 60); return; }
      edits.headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
    if (textBody) edits.body = body.value;
    replay(r.id, send, result, edits);
  } }, 'Send to local app');
  panel.replaceChildren(el('h3', {}, 'Edit and replay'),
    el('div', { class: 'edit' }, el('label', { for: 'edit-method' }, 'Method'), method, el('label', { for: 'edit-path' }, 'Path'), path,
      el('label', { for: 'edit-headers' }, 'Headers'), headers, el('label', { for: 'edit-body' }, 'Body'), body),
    el('div', { class: 'bar' }, send, result));
}

async function copyCurl(id, panel, note) {
  const command = await (await fetch(api(id, '/curl'))).text();
  panel.replaceChildren(el('h3', {}, 'curl'), el('pre', { id: 'curl-command' }, command));
  try { await navigator.clipboard.writeText(command); note.textContent = 'curl command copied'; }
  catch { note.textContent = 'select the command below to copy it'; }
}

// Compare with the cluster: the server sends the request to its --fallback; both answers side by side.
async function compare(id, button, panel, note) {
  button.disabled = true;
  note.textContent = 'asking the cluster…';
  try {
    const { ok, result } = await postAction(id, '/compare');
    if (!ok) { note.textContent = result.message; return; }
    note.textContent = '';
    panel.replaceChildren(comparisonView(result));
  } catch (error) {
    note.textContent = 'compare failed: ' + error.message;
  } finally {
    button.disabled = false;
  }
}
function comparisonView(c) {
  const d = c.differences;
  const realHeaderDiffs = d.headers.filter((h) => !h.expected).length;
  const summary = [d.status ? 'status differs' : 'same status', realHeaderDiffs ? realHeaderDiffs + ' header' + (realHeaderDiffs === 1 ? '' : 's') + ' differ' : 'same headers', d.body.kind === 'same' ? 'same body' : 'body differs'].join(' · ');
  const side = (title, s) => el('div', {}, el('h4', {}, title), el('strong', { class: statusClass(s.status) + (d.status ? ' diff' : '') }, s.status), bodyView(s.body));
  return el('div', { id: 'comparison' },
    el('h3', {}, 'Local app vs cluster'),
    el('p', { id: 'compare-summary', class: d.status || realHeaderDiffs || d.body.kind !== 'same' ? 's4' : 's2' }, summary),
    el('h3', {}, 'Body differences'), bodyDiffView(d.body),
    d.headers.length ? el('div', {}, el('h3', {}, 'Headers that differ'), el('table', { class: 'hdiff', id: 'header-diff' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Header'), el('th', {}, 'Local app'), el('th', {}, 'Cluster'))),
      el('tbody', {}, ...d.headers.map((h) => el('tr', { class: h.expected ? 'expected' : 'diff' }, el('td', {}, h.name + (h.expected ? ' (differs every time)' : '')), el('td', {}, h.local === null ? '—' : h.local), el('td', {}, h.cluster === null ? '—' : h.cluster)))))) : null,
    el('h3', {}, 'Both answers'),
    el('div', { class: 'compare' }, side('Local app (captured)', c.local), side('Cluster (--fallback, id ' + c.cluster.requestId.slice(0, 8) + ', ' + ms(c.cluster.durationMs) + ')', c.cluster)));
}
function bodyDiffView(body) {
  if (body.kind === 'same') return el('p', { id: 'body-diff', class: 's2' }, 'The bodies are the same.');
  if (body.kind === 'binary') return el('p', { id: 'body-diff' }, 'Binary bodies differ (' + body.localBytes + ' vs ' + body.clusterBytes + ' bytes).');
  if (body.kind === 'json') return el('table', { class: 'hdiff', id: 'body-diff' },
    el('thead', {}, el('tr', {}, el('th', {}, 'JSON path'), el('th', {}, 'Local app'), el('th', {}, 'Cluster'))),
    el('tbody', {}, ...body.changes.map((change) => el('tr', { class: 'diff' }, el('td', {}, change.path),
      el('td', { class: 'diff-local' }, 'local' in change ? JSON.stringify(change.local) : '(missing)'),
      el('td', { class: 'diff-cluster' }, 'cluster' in change ? JSON.stringify(change.cluster) : '(missing)')))),
    body.more ? el('caption', {}, 'more differences not shown') : null);
  return el('pre', { class: 'lines', id: 'body-diff' }, ...body.lines.map((line) => el('span', { class: line.op === 'same' ? 'same' : 'diff-' + line.op }, line.text)));
}

function connect() {
  const live = document.getElementById('live');
  const events = new EventSource('/api/events');
  // Each (re)connect reloads the list, so nothing is missed while the stream was down.
  events.onopen = () => { live.textContent = 'live'; live.classList.add('on'); loadList(); };
  events.onerror = () => { live.textContent = 'reconnecting…'; live.classList.remove('on'); };
  events.addEventListener('request', (event) => prepend(JSON.parse(event.data)));
}
loadList();
connect();
`;
