/**
 * The demo's "local app": one page that shows what standin adds to every request (ids, trace
 * headers, Server-Timing) and a live clock over server-sent events.
 */

import http from 'node:http';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>standin demo app</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}
pre{background:#f4f4f4;padding:1rem;overflow:auto}button{font-size:1rem}</style></head>
<body><h1>Hello from your local app</h1>
<p>This page came from <code>localhost</code> on your machine, through the standin server.</p>
<p>Server time over server-sent events: <strong id="clock">…</strong></p>
<p><button id="ask">Call /api/hello</button></p>
<pre id="answer">Press the button: the app answers with the headers standin gave it.</pre>
<script>
  new EventSource('/api/clock').onmessage = (event) => { document.getElementById('clock').textContent = event.data; };
  document.getElementById('ask').onclick = async () => {
    const response = await fetch('/api/hello');
    const body = await response.json();
    body.responseHeaders = { 'x-standin-request-id': response.headers.get('x-standin-request-id'), 'server-timing': response.headers.get('server-timing') };
    document.getElementById('answer').textContent = JSON.stringify(body, null, 2);
  };
</script></body></html>`;

/** Handles the demo app's three routes. */
export function demoApp(): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/api/hello') {
      const seen = Object.fromEntries(
        Object.entries(req.headers).filter(
          ([name]) => name.startsWith('x-') || name === 'traceparent' || name === 'via' || name === 'host',
        ),
      );
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Hello from localhost', headersTheAppReceived: seen }));
    } else if (path === '/api/clock') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const tick = () => res.write(`data: ${new Date().toLocaleTimeString()}\n\n`);
      tick();
      const timer = setInterval(tick, 1000);
      req.once('close', () => clearInterval(timer));
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    }
  };
}
