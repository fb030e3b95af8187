/**
 * The inspector's single page: HTML with inline CSS and JS, no build step and no assets. The
 * list updates live from /api/events; a click loads /api/requests/<id>. Everything from a
 * request (paths, headers, bodies) is put in the page with textContent, never as HTML.
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
  <input id="filter" type="search" placeholder="Filter: path, method, status, id" aria-label="Filter requests"></header>
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
header { padding:10px 16px; border-bottom:1px solid var(--line); background:var(--panel); font-size:15px; display:flex; gap:12px; align-items:center; }
.live { font-size:12px; color:var(--muted); } .live.on { color:var(--ok); } .live.on::before { content:"● "; }
main { display:grid; grid-template-columns:minmax(0, 1fr) minmax(0, 1fr); height:calc(100vh - 44px); }
#filter { margin-left:auto; width:260px; background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:5px; padding:4px 8px; font:inherit; }
/* Fixed columns: a long path is cut with an ellipsis instead of pushing Status and Duration off-screen. */
table { table-layout:fixed; }
col.c-time { width:78px; } col.c-id { width:82px; } col.c-method { width:64px; } col.c-status { width:72px; } col.c-duration { width:72px; }
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

function row(summary, fresh) {
  const tr = el('tr', { 'data-id': summary.id, class: fresh ? 'fresh' : '', onclick: () => show(summary.id) },
    el('td', { class: 'muted' }, new Date(summary.startedAt).toLocaleTimeString()),
    el('td', { class: 'id muted', title: summary.id }, summary.id.slice(0, 8)),
    el('td', {}, summary.method),
    el('td', { class: 'path', title: summary.path }, summary.outbound ? el('span', { class: 'tag' }, 'outbound') : null, summary.path, summary.replayOf ? el('span', { class: 'tag' }, 'replay') : null),
    el('td', { class: statusClass(summary.status) }, summary.status, summary.error ? el('span', { class: 'tag err' }, summary.error) : summary.outcome ? el('span', { class: 'tag' }, summary.outcome) : null),
    el('td', { class: 'num muted' }, ms(summary.durationMs)));
  if (summary.id === selected) tr.classList.add('selected');
  tr.dataset.text = [summary.method, summary.path, summary.status, summary.id, summary.error || '', summary.replayOf ? 'replay' : ''].join(' ').toLowerCase();
  applyFilter(tr);
  return tr;
}
const filterInput = document.getElementById('filter');
function applyFilter(tr) {
  const words = filterInput.value.toLowerCase().split(/\\s+/).filter(Boolean);
  tr.classList.toggle('filtered', !words.every((word) => tr.dataset.text.includes(word)));
}
filterInput.addEventListener('input', () => { for (const tr of rows.children) applyFilter(tr); });
function updateCount() {
  document.getElementById('count').textContent = rows.children.length + ' requests';
  document.getElementById('empty').style.display = rows.children.length ? 'none' : '';
}
function prepend(summary) {
  if ([...rows.children].some((tr) => tr.dataset.id === summary.id)) return;
  rows.prepend(row(summary, true));
  while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
  updateCount();
}
async function loadList() {
  const list = await (await fetch('/api/requests')).json();
  rows.replaceChildren(...list.map((summary) => row(summary, false)));
  updateCount();
}
function headerList(headers) {
  if (!headers.length) return el('p', { class: 'muted' }, 'none');
  return el('dl', {}, ...headers.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]));
}
function bodyView(body) {
  if (body.kind === 'empty') return el('p', { class: 'muted' }, 'no body');
  const size = body.totalBytes + ' bytes' + (body.truncated ? ', first ' + 65536 + ' bytes shown' : '');
  const label = el('p', { class: 'muted' }, body.kind + ' · ' + size);
  return el('div', {}, label, el('pre', {}, body.kind === 'binary' ? body.hex : body.text));
}
async function show(id) {
  selected = id;
  for (const tr of rows.children) tr.classList.toggle('selected', tr.dataset.id === id);
  const response = await fetch('/api/requests/' + encodeURIComponent(id));
  if (!response.ok) { detail.replaceChildren(el('p', { class: 'muted pad' }, 'This request is no longer kept.')); return; }
  const r = await response.json();
  const replayButton = el('button', { id: 'replay', onclick: () => replay(r.id, replayButton, note) }, 'Replay');
  const note = el('span', { class: 'muted' }, r.replayRefusal || '');
  if (r.replayRefusal) replayButton.disabled = true;
  detail.replaceChildren(...[
    el('h2', {}, (r.outbound ? 'outbound ' : '') + r.method + ' ' + r.path),
    el('div', { class: 'bar' },
      el('strong', { class: statusClass(r.status) }, r.status), r.error ? el('span', { class: 'tag err' }, r.error) : r.outcome ? el('span', { class: 'tag' }, r.outcome) : null,
      el('span', { class: 'muted' }, 'id ' + r.id), r.replayOf ? el('span', { class: 'tag' }, 'replay of ' + r.replayOf.slice(0, 8)) : null),
    el('div', { class: 'bar' }, replayButton, note),
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
async function replay(id, button, note) {
  button.disabled = true;
  note.textContent = 'replaying…';
  try {
    const response = await fetch('/api/requests/' + encodeURIComponent(id) + '/replay', { method: 'POST' });
    const result = await response.json();
    note.textContent = response.ok ? 'replayed as ' + result.id.slice(0, 8) + ': ' + result.status : result.message;
  } catch (error) {
    note.textContent = 'replay failed: ' + error.message;
  } finally {
    button.disabled = false;
  }
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
