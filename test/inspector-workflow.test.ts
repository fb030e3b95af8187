/**
 * The inspector's workflow features against the real client and server processes, a real local
 * app and a real "cluster" app behind the server's --fallback: filter and search, copy as curl
 * (the command run by sh against the app), edit and replay, HAR export (checked against the HAR
 * 1.2 JSON schema), compare with the cluster, and the guards around the endpoints that act.
 */

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { HostileClient } from './helpers/hostile-client';
import { eventually, httpRequest } from './helpers/http';
import { inspectPortBase } from './helpers/inspector';
import { spawnStandin, startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';
import { HEADER } from '#shared/protocol/headers';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import type { RequestSummary as Summary } from '../client/inspector/request-store';
import type { Comparison } from '../client/inspector/cluster-comparison';

// The HAR 1.2 JSON schema (the one har-validator uses) and ajv's draft-06 meta-schema it is written in; plain JSON without types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const harSchemas = require('har-schema') as Record<string, object>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const draft06 = require('ajv/lib/refs/json-schema-draft-06.json') as object;

jest.setTimeout(60_000);

const TOKEN = 'inspector-workflow-token';

interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

let app: LocalApp;
let clusterApp: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let inspector: string;
let inspectorPort: number;
const atApp: Received[] = [];
const atCluster: Received[] = [];

/** An app that records what it got and answers JSON naming itself (the two differ on purpose). */
function recordingApp(into: Received[], source: 'local' | 'cluster'): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      into.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return void res.end('not here');
      }
      if (req.url === '/page') {
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end(
          source === 'local' ? '<h1>Shop</h1>\n<p>new banner</p>\n<footer>v2</footer>\n' : '<h1>Shop</h1>\n<footer>v1</footer>\n',
        );
      }
      if (req.url === '/slow' && source === 'cluster') return; // never answers
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end(source.repeat(1024 * 1024));
      }
      res.writeHead(source === 'local' ? 200 : 201, {
        'content-type': 'application/json',
        'x-app': source,
        ...(source === 'local' ? { 'x-only-local': '1' } : {}),
      });
      res.end(JSON.stringify({ source, items: source === 'local' ? [1, 2] : [1, 3], path: req.url }));
    });
  };
}

beforeAll(async () => {
  app = await startLocalApp(recordingApp(atApp, 'local'));
  clusterApp = await startLocalApp(recordingApp(atCluster, 'cluster'));
  server = await startServerProcess(['--token', TOKEN, '--fallback', clusterApp.url, '--request-timeout', '3s']);
  inspectorPort = await inspectPortBase();
  client = await startClientProcess(String(app.port), server.url, ['--token', TOKEN, '--inspect', String(inspectorPort)]);
  inspector = `http://127.0.0.1:${inspectorPort}/`;
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await Promise.all([app?.close(), clusterApp?.close()]);
});

async function list(query = ''): Promise<Summary[]> {
  return JSON.parse((await httpRequest(`${inspector}api/requests${query}`)).text) as Summary[];
}

/** Sends a request through the tunnel and waits until the inspector has it; returns its id. */
async function throughTunnel(pathAndQuery: string, options: Parameters<typeof httpRequest>[1] = {}): Promise<string> {
  const response = await httpRequest(`${client.publicUrl}${pathAndQuery}`, options);
  const id = String(response.headers['x-standin-request-id']);
  await eventually(async () => (await httpRequest(`${inspector}api/requests/${id}`)).status === 200);
  return id;
}

/** The inspector's own page would send these: its Origin and same-origin. */
const fromPage = () => ({ origin: `http://127.0.0.1:${inspectorPort}`, 'sec-fetch-site': 'same-origin' });

function postJson(url: string, body: unknown, headers: http.OutgoingHttpHeaders = fromPage()) {
  return httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** Headers as [lower-case name, value] pairs, sorted, without the ones that differ by transport. */
function comparable(rawHeaders: string[], drop: string[] = []): string[] {
  const pairs: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (['connection', 'content-length', 'transfer-encoding', ...drop].includes(name)) continue;
    pairs.push(`${name}: ${rawHeaders[i + 1]}`);
  }
  return pairs.sort();
}

describe('filter and search', () => {
  let postId: string;
  let headerId: string;
  beforeAll(async () => {
    await throughTunnel('/shop/cart');
    postId = await throughTunnel('/api/orders', {
      method: 'POST',
      body: '{"note":"needle-4711"}',
      headers: { 'content-type': 'application/json' },
    });
    await throughTunnel('/missing');
    headerId = await throughTunnel('/shop/with-header', { headers: { 'x-tenant': 'acme-haystack' } });
  });

  test('by method, status class, exact status and path', async () => {
    const posts = await list('?method=post');
    expect(posts.length).toBeGreaterThan(0);
    expect(posts.every((entry) => entry.method === 'POST')).toBe(true);
    expect(posts.map((entry) => entry.id)).toContain(postId);
    const clientErrors = await list('?status=4xx');
    expect(clientErrors.map((entry) => entry.path)).toEqual(['/missing']);
    expect((await list('?status=404')).map((entry) => entry.path)).toEqual(['/missing']);
    const shop = await list('?path=%2Fshop');
    expect(shop.map((entry) => entry.path).sort()).toEqual(['/shop/cart', '/shop/with-header']);
    expect(await list('?method=GET&path=%2Fshop&status=2xx')).toHaveLength(2);
  });

  test('free text searches ids, headers and bodies; every word must match', async () => {
    expect((await list('?text=needle-4711')).map((entry) => entry.id)).toEqual([postId]);
    expect((await list('?text=ACME-haystack')).map((entry) => entry.id)).toEqual([headerId]);
    expect((await list(`?text=${postId.slice(0, 8)}`)).map((entry) => entry.id)).toEqual([postId]);
    expect(await list('?text=needle-4711+acme-haystack')).toEqual([]);
  });

  test('the list says how many are kept in all', async () => {
    const response = await httpRequest(`${inspector}api/requests?status=404`);
    expect(Number(response.headers['x-total-count'])).toBeGreaterThanOrEqual(4);
  });
});

describe('copy as curl', () => {
  let workDir: string;
  beforeAll(() => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-curl-'));
  });

  /** Runs the inspector's curl command for `id` with sh -c, in a scratch directory. */
  async function runCurl(id: string): Promise<Received> {
    const command = (await httpRequest(`${inspector}api/requests/${id}/curl`)).text;
    const before = atApp.length;
    await new Promise<void>((resolve, reject) => {
      execFile('sh', ['-c', command], { cwd: workDir, timeout: 10_000 }, (error, _stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(),
      );
    });
    expect(atApp.length).toBe(before + 1);
    return atApp[atApp.length - 1];
  }

  test('the command sends the same method, path, headers and body to the app; hostile values stay data', async () => {
    const hostile = `$(touch pwned-1) \`touch pwned-2\` '; touch pwned-3; echo ' "$HOME" \\ | & ;`;
    const hostilePath = `/q/'$(touch%20pwned-4)'?a=\`touch%20pwned-5\`&b=$HOME&c=[1]{2}`;
    const body = `{"text":"it's $(touch pwned-6) \`x\` \\n","n":1}\n-- line two --`;
    const id = await throughTunnel(hostilePath, {
      method: 'PATCH',
      body,
      headers: { 'content-type': 'application/json', 'x-hostile': hostile, 'x-empty': '', '-x-dash': '-H evil' },
    });
    const original = atApp[atApp.length - 1];
    const again = await runCurl(id);
    expect(again.method).toBe('PATCH');
    expect(again.url).toBe(hostilePath);
    expect(again.body.toString()).toBe(body);
    expect(comparable(again.rawHeaders)).toEqual(comparable(original.rawHeaders));
    expect(fs.readdirSync(workDir)).toEqual([]);
  });

  test('a binary body (NUL, %, backslash, quote bytes) goes through printf byte for byte', async () => {
    const body = Buffer.from([0, 1, 0x25, 0x5c, 0x27, 0x0a, 0xff, 0xfe, 0x7f, 0x80, 0x41, 0x25, 0x73]);
    const id = await throughTunnel('/upload-binary', { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
    const original = atApp[atApp.length - 1];
    const again = await runCurl(id);
    expect(again.body.equals(body)).toBe(true);
    expect(comparable(again.rawHeaders)).toEqual(comparable(original.rawHeaders));
  });

  test('a bodyless GET without Accept or User-Agent is not given curl defaults', async () => {
    const id = await throughTunnel('/plain-get');
    const original = atApp[atApp.length - 1];
    const again = await runCurl(id);
    expect(again.method).toBe('GET');
    expect(comparable(again.rawHeaders)).toEqual(comparable(original.rawHeaders));
  });
});

describe('edit and replay', () => {
  test('method, path, headers and body are replaced by the edits; the body sets its own length', async () => {
    const id = await throughTunnel('/edit-me', {
      method: 'POST',
      body: 'original',
      headers: { 'content-type': 'text/plain', 'x-keep': 'no' },
    });
    const edits = {
      method: 'PUT',
      path: '/edited?x=1',
      headers: [
        ['Content-Type', 'application/json'],
        ['X-Edited', 'yes'],
        ['Content-Length', '999'],
      ],
      body: '{"qty":2}',
    };
    const response = await postJson(`${inspector}api/requests/${id}/replay`, edits);
    expect(response.status).toBe(200);
    const result = JSON.parse(response.text) as { id: string; status: number };
    expect(result.status).toBe(200);
    const got = atApp.find((entry) => entry.rawHeaders.includes(result.id))!;
    expect(got).toBeDefined();
    expect(got.method).toBe('PUT');
    expect(got.url).toBe('/edited?x=1');
    expect(got.body.toString()).toBe('{"qty":2}');
    const headers = comparable(got.rawHeaders, ['host']);
    expect(headers).toEqual(expect.arrayContaining(['content-type: application/json', 'x-edited: yes', `x-standin-replay-of: ${id}`]));
    expect(headers.some((header) => header.startsWith('x-keep'))).toBe(false);
    expect(got.rawHeaders[got.rawHeaders.findIndex((name) => name.toLowerCase() === 'content-length') + 1]).toBe('9');
    const replayed = (await list()).find((entry) => entry.id === result.id);
    expect(replayed).toMatchObject({ method: 'PUT', path: '/edited?x=1', replayOf: id });
  });

  test('bad edits are refused with 400 bad_edit naming the problem, and nothing is sent', async () => {
    const id = await throughTunnel('/edit-bad');
    const before = atApp.length;
    for (const [edits, says] of [
      [{ path: 'http://evil.example/' }, 'path must start with /'],
      [{ path: '/a b' }, 'spaces'],
      [{ method: 'GE T' }, 'method'],
      [{ headers: [['X-Bad', 'a\r\nInjected: 1']] }, 'not a valid HTTP header'],
      [{ headers: [['Bad Name', 'x']] }, 'not a valid HTTP header'],
      [{ url: '/x' }, 'unknown field'],
      [[1, 2], 'JSON object'],
      [{ body: 'x'.repeat(1024 * 1024 + 1) }, 'at most'],
    ] as const) {
      const response = await postJson(`${inspector}api/requests/${id}/replay`, edits);
      expect({ status: response.status, error: JSON.parse(response.text).error }).toEqual({ status: 400, error: 'bad_edit' });
      expect(JSON.parse(response.text).message).toContain(says);
    }
    const plainText = await httpRequest(`${inspector}api/requests/${id}/replay`, {
      method: 'POST',
      headers: { ...fromPage(), 'content-type': 'text/plain' },
      body: '{"method":"DELETE"}',
    });
    expect(plainText.status).toBe(400);
    expect(atApp.length).toBe(before);
  });

  test('a request whose body was cut can be replayed with an edited body', async () => {
    const id = await throughTunnel('/big-upload', {
      method: 'POST',
      body: Buffer.alloc(100 * 1024, 'a'),
      headers: { 'content-type': 'text/plain' },
    });
    expect((await httpRequest(`${inspector}api/requests/${id}/replay`, { method: 'POST' })).status).toBe(409);
    const response = await postJson(`${inspector}api/requests/${id}/replay`, { body: 'short' });
    expect(response.status).toBe(200);
    expect(atApp[atApp.length - 1].body.toString()).toBe('short');
  });
});

describe('the endpoints that act refuse cross-site browser calls', () => {
  test.each([
    ['another origin', { origin: 'https://evil.example.com' }],
    ['another local dev server', { origin: 'http://localhost:5173' }],
    ['a cross-site fetch without Origin', { 'sec-fetch-site': 'cross-site' }],
    ['a same-site page', { 'sec-fetch-site': 'same-site' }],
  ])('%s gets 403 for replay, edit and replay, and compare; nothing reaches either app', async (_what, headers) => {
    const id = await throughTunnel('/csrf-target');
    const [appBefore, clusterBefore] = [atApp.length, atCluster.length];
    for (const action of ['replay', 'compare']) {
      const bare = await httpRequest(`${inspector}api/requests/${id}/${action}`, { method: 'POST', headers });
      expect(bare.status).toBe(403);
      expect(JSON.parse(bare.text).error).toBe('forbidden_origin');
    }
    const edited = await postJson(`${inspector}api/requests/${id}/replay`, { method: 'DELETE' }, headers);
    expect(edited.status).toBe(403);
    expect([atApp.length, atCluster.length]).toEqual([appBefore, clusterBefore]);
  });
});

describe('HAR export', () => {
  test('GET /api/requests.har is valid HAR 1.2 with the listed requests, bodies and the filter applied', async () => {
    const postId = await throughTunnel('/har/post?x=1', {
      method: 'POST',
      body: '{"har":true}',
      headers: { 'content-type': 'application/json' },
    });
    const response = await httpRequest(`${inspector}api/requests.har`);
    expect(response.status).toBe(200);
    expect(response.headers['content-disposition']).toBe('attachment; filename="standin-requests.har"');
    const har = JSON.parse(response.text);
    const ajv = new Ajv({ allErrors: true });
    ajv.addMetaSchema(draft06);
    ajv.addSchema(Object.values(harSchemas));
    const valid = ajv.validate('har.json', har);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    const entries = har.log.entries as {
      request: { url: string; method: string; postData?: { text: string }; queryString: unknown[] };
      _standinRequestId: string;
      response: { content: { text?: string } };
    }[];
    expect(entries.length).toBe((await list()).length);
    const entry = entries.find((candidate) => candidate._standinRequestId === postId)!;
    expect(entry.request).toMatchObject({
      method: 'POST',
      url: `http://localhost:${app.port}/har/post?x=1`,
      postData: { text: '{"har":true}' },
      queryString: [{ name: 'x', value: '1' }],
    });
    expect(JSON.parse(entry.response.content.text!)).toMatchObject({ source: 'local' });
    const filtered = JSON.parse((await httpRequest(`${inspector}api/requests.har?method=POST&path=%2Fhar`)).text);
    expect(filtered.log.entries.map((e: { _standinRequestId: string }) => e._standinRequestId)).toEqual([postId]);
  });
});

describe('compare with the cluster', () => {
  test('the same request goes to --fallback; both answers come back with status, headers and JSON body differences', async () => {
    const id = await throughTunnel('/api/prices?sku=7', {
      method: 'POST',
      body: '{"sku":7}',
      headers: { 'content-type': 'application/json', 'x-standin-spoof': 'no' },
    });
    const sentToApp = atApp[atApp.length - 1];
    const response = await httpRequest(`${inspector}api/requests/${id}/compare`, { method: 'POST', headers: fromPage() });
    expect(response.status).toBe(200);
    const comparison = JSON.parse(response.text) as Comparison;
    const got = atCluster[atCluster.length - 1];
    expect(got).toMatchObject({ method: 'POST', url: '/api/prices?sku=7' });
    expect(got.body.toString()).toBe('{"sku":7}');
    const clusterHeaders = comparable(got.rawHeaders);
    expect(clusterHeaders).toEqual(
      expect.arrayContaining([
        'content-type: application/json',
        `x-standin-compare: ${client.tunnel}`,
        `x-standin-request-id: ${comparison.cluster.requestId}`,
      ]),
    );
    // The site's Host, as the cluster app gets it from browsers, not the laptop's target.
    const siteHost = sentToApp.rawHeaders[sentToApp.rawHeaders.findIndex((name) => name.toLowerCase() === 'x-forwarded-host') + 1];
    expect(clusterHeaders).toContain(`host: ${siteHost}`);
    expect(clusterHeaders.filter((header) => header.startsWith('x-standin-')).sort()).toEqual([
      `x-standin-compare: ${client.tunnel}`,
      `x-standin-request-id: ${comparison.cluster.requestId}`,
    ]);
    expect(comparison.local.status).toBe(200);
    expect(comparison.cluster.status).toBe(201);
    expect(comparison.differences.status).toBe(true);
    expect(comparison.differences.headers).toEqual(
      expect.arrayContaining([
        { name: 'x-app', local: 'local', cluster: 'cluster', expected: false },
        { name: 'x-only-local', local: '1', cluster: null, expected: false },
      ]),
    );
    expect(comparison.differences.body).toEqual({
      kind: 'json',
      more: false,
      changes: [
        { path: '$.source', local: 'local', cluster: 'cluster' },
        { path: '$.items[1]', local: 2, cluster: 3 },
      ],
    });
    expect(comparison.cluster.body).toMatchObject({ kind: 'json' });
  });

  test('text bodies get a line diff', async () => {
    const id = await throughTunnel('/page');
    const comparison = JSON.parse(
      (await httpRequest(`${inspector}api/requests/${id}/compare`, { method: 'POST', headers: fromPage() })).text,
    ) as Comparison;
    expect(comparison.differences.status).toBe(false);
    expect(comparison.differences.body).toEqual({
      kind: 'text',
      more: false,
      lines: [
        { op: 'same', text: '<h1>Shop</h1>' },
        { op: 'local', text: '<p>new banner</p>' },
        { op: 'local', text: '<footer>v2</footer>' },
        { op: 'cluster', text: '<footer>v1</footer>' },
        { op: 'same', text: '' },
      ],
    });
  });

  test("the cluster's body is kept up to 256 KiB and marked cut beyond", async () => {
    const id = await throughTunnel('/huge');
    const comparison = JSON.parse(
      (await httpRequest(`${inspector}api/requests/${id}/compare`, { method: 'POST', headers: fromPage() })).text,
    ) as Comparison;
    expect(comparison.cluster.body).toMatchObject({ kind: 'text', truncated: true });
    expect((comparison.cluster.body as { text: string }).text.length).toBe(256 * 1024);
    expect(comparison.differences.body.kind).toBe('text');
  });

  test('a cluster app that does not answer gives 504-style fallback_timeout within the server bound', async () => {
    const id = await throughTunnel('/slow');
    const startedAt = Date.now();
    const response = await httpRequest(`${inspector}api/requests/${id}/compare`, {
      method: 'POST',
      headers: fromPage(),
      timeoutMs: 15_000,
    });
    expect(response.status).toBe(502);
    expect(JSON.parse(response.text).error).toBe('fallback_timeout');
    expect(Date.now() - startedAt).toBeLessThan(8_000);
  });

  test('a server without --fallback answers 409 no_fallback, and the inspector passes it on', async () => {
    const plainServer = await startServerProcess(['--token', TOKEN]);
    const second = await startClientProcess(String(app.port), plainServer.url, [
      '--token',
      TOKEN,
      '--name',
      'no-fallback',
      '--inspect',
      String(inspectorPort + 3),
    ]);
    try {
      const ready = await second.waitForLine((line) => line.message === 'tunnel ready');
      const secondInspector = String(ready.inspectorUrl);
      const response = await httpRequest(`${second.publicUrl}/x`);
      const id = String(response.headers['x-standin-request-id']);
      await eventually(async () => (await httpRequest(`${secondInspector}api/requests/${id}`)).status === 200);
      const compared = await httpRequest(`${secondInspector}api/requests/${id}/compare`, { method: 'POST' });
      expect(compared.status).toBe(409);
      expect(JSON.parse(compared.text)).toMatchObject({ error: 'no_fallback', message: expect.stringContaining('--fallback') });
    } finally {
      await second.stop('SIGINT');
      await plainServer.stop();
    }
  });
});

test('with standin up, the one inspector compares and copies each request through its own tunnel and app', async () => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-inspector-up-'));
  const otherApp = await startLocalApp(recordingApp([], 'local'));
  fs.writeFileSync(path.join(project, '.token'), `${TOKEN}\n`);
  const config = [
    `server: ${server.url}`,
    'token-file: .token',
    `inspect: ${inspectorPort + 7}`,
    'tunnels:',
    '  one:',
    `    target: ${app.port}`,
    '    name: up-compare-one',
    '  two:',
    `    target: ${otherApp.port}`,
    '    name: up-compare-two',
    '',
  ];
  fs.writeFileSync(path.join(project, 'standin.yaml'), config.join('\n'));
  const up = spawnStandin(['up', '--config', path.join(project, 'standin.yaml')], { HOME: project });
  try {
    const ready = await up.waitForLine((line) => line.message === 'tunnel ready' && line.tunnel === 'up-compare-two', 20_000);
    const sharedInspector = String(ready.inspectorUrl);
    const response = await httpRequest(`http://127.0.0.1:${String(ready.port)}/from-two`);
    const id = String(response.headers['x-standin-request-id']);
    await eventually(async () => (await httpRequest(`${sharedInspector}api/requests/${id}`)).status === 200);
    const compared = await httpRequest(`${sharedInspector}api/requests/${id}/compare`, { method: 'POST' });
    expect(compared.status).toBe(200);
    expect(comparable(atCluster[atCluster.length - 1].rawHeaders)).toContain('x-standin-compare: up-compare-two');
    expect((await httpRequest(`${sharedInspector}api/requests/${id}/curl`)).text).toContain(
      `--url 'http://localhost:${otherApp.port}/from-two'`,
    );
  } finally {
    await up.stop('SIGINT');
    await otherApp.close();
    fs.rmSync(project, { recursive: true, force: true });
  }
});

describe("the server's compare endpoint with hostile input", () => {
  let endpoint: string;
  let session: Record<string, string>;
  beforeAll(async () => {
    const client = await HostileClient.register(server.url, 'compare-raw', TOKEN);
    endpoint = `${server.url}/_standin/v1/tunnels/compare-raw/compare`;
    session = client.rawCallHeaders(TOKEN);
  });
  const call = (body: unknown, headers: Record<string, string> = session) =>
    httpRequest(endpoint, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const good = { method: 'GET', path: '/raw', headers: [], bodyBase64: '' };

  test('without the token 401, with another session 404 unknown_session; nothing reaches the cluster app', async () => {
    const before = atCluster.length;
    const anonymous = await call(good, { [HEADER.protocol]: String(PROTOCOL_VERSION) });
    expect(anonymous.status).toBe(401);
    const guessed = await call(good, { ...session, [HEADER.session]: 'guessed' });
    expect(guessed.status).toBe(404);
    expect(JSON.parse(guessed.text).error).toBe('unknown_session');
    const otherTunnel = await httpRequest(`${server.url}/_standin/v1/tunnels/${client.tunnel}/compare`, {
      method: 'POST',
      headers: { ...session, 'content-type': 'application/json' },
      body: JSON.stringify(good),
    });
    expect(otherTunnel.status).toBe(404);
    expect(atCluster.length).toBe(before);
  });

  test('the owner session reaches only the fallback, whatever the path or Host say', async () => {
    const ok = await call({ ...good, headers: ['Host', 'evil.example.com', 'X-Standin-Tunnel', 'spoofed'] });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ status: 201, truncated: false });
    const got = atCluster[atCluster.length - 1];
    expect(got.url).toBe('/raw');
    expect(comparable(got.rawHeaders)).not.toContain('x-standin-tunnel: spoofed');
    for (const path of ['http://127.0.0.1:1/x', '//127.0.0.1:1/x', 'x', '/a b', '/\u0100']) {
      const refused = await call({ ...good, path });
      expect(refused.status).toBe(400);
    }
  });

  test('malformed or oversized bodies get 400 or 413', async () => {
    expect((await call('{not json')).status).toBe(400);
    expect((await call({ ...good, method: 'CONNECT' })).status).toBe(400);
    expect((await call({ ...good, headers: ['odd'] })).status).toBe(400);
    expect((await call({ ...good, headers: ['X-Bad', 'a\r\nb'] })).status).toBe(400);
    // Announced too large: refused from the head alone, before a byte of the body is read.
    const huge = await new Promise<number>((resolve, reject) => {
      const request = http.request(
        endpoint,
        { method: 'POST', headers: { ...session, 'content-type': 'application/json', 'content-length': String(3 * 1024 * 1024) } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
          request.destroy();
        },
      );
      request.on('error', reject);
      request.write('{"method":');
    });
    expect(huge).toBe(413);
  });
});
