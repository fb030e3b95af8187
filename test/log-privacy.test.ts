/**
 * Secrets stay out of logs (real processes): query strings are left out of the server's and the
 * client's logs and the --log-file unless --log-query, an `X-Session-Id` is not logged (only the
 * named trace headers are), the --log-file is created 0600, a token on the command line gets a
 * warning, and the inspector replays only for its own exact origin.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { echoHandler, startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { inspectPortBase, waitForNdjsonLine, readNdjson } from './helpers/inspector';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

const TOKEN = 'log-privacy-token';

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;
let logFile: string;
let inspectorPort: number;

beforeAll(async () => {
  app = await startLocalApp(echoHandler());
  server = await startServerProcess(['--token', TOKEN, '--log-header', 'X-Tenant']);
  logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'standin-log-')), 'requests.ndjson');
  inspectorPort = await inspectPortBase();
  client = await startClientProcess(String(app.port), server.url, [
    '--token',
    TOKEN,
    '--log-file',
    logFile,
    '--inspect',
    String(inspectorPort),
  ]);
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

test('a query string and an X-Session-Id reach the app but none of the logs; named trace headers do', async () => {
  const response = await httpRequest(`${client.publicUrl}/login?token=hunter2&user=ada`, {
    headers: { 'x-session-id': 'session-secret-42', 'x-correlation-id': 'corr-7', 'x-tenant': 'acme' },
  });
  expect(JSON.parse(response.text).url).toBe('/login?token=hunter2&user=ada');
  const requestId = String(response.headers['x-standin-request-id']);

  const serverLine = await server.waitForLine((line) => line.message === 'forwarded request' && line.requestId === requestId);
  expect(serverLine).toMatchObject({ path: '/login', correlationId: 'corr-7', xTenant: 'acme' });
  const clientLine = await client.waitForLine((line) => line.message === 'request' && line.requestId === requestId);
  expect(clientLine).toMatchObject({ path: '/login', correlationId: 'corr-7' });
  const fileLine = await waitForNdjsonLine(logFile, (line) => line.requestId === requestId);
  expect(fileLine.path).toBe('/login');

  for (const text of [JSON.stringify(server.lines), JSON.stringify(client.lines), JSON.stringify(readNdjson(logFile))]) {
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('session-secret-42');
    expect(text).not.toContain('sessionId');
  }
  expect(fs.statSync(logFile).mode & 0o777).toBe(0o600);
});

test('a token given as a flag gets a warning naming STANDIN_TOKEN and --token-file; the token itself is never logged', () => {
  const warning = client.lines.find((line) => String(line.message).includes('STANDIN_TOKEN'));
  expect(warning?.message).toContain('--token-file');
  expect(JSON.stringify(client.lines)).not.toContain(TOKEN);
  expect(JSON.stringify(server.lines)).not.toContain(TOKEN);
});

test('the inspector replays only for its own exact origin, not another local dev server', async () => {
  const response = await httpRequest(`${client.publicUrl}/replay-me`);
  const id = String(response.headers['x-standin-request-id']);
  const inspector = `http://127.0.0.1:${inspectorPort}/api/requests/${id}`;
  await waitForNdjsonLine(logFile, (line) => line.requestId === id);
  const fromViteOrigin = await httpRequest(`${inspector}/replay`, { method: 'POST', headers: { origin: 'http://localhost:5173' } });
  expect(fromViteOrigin.status).toBe(403);
  const fromItself = await httpRequest(`${inspector}/replay`, { method: 'POST', headers: { origin: `http://127.0.0.1:${inspectorPort}` } });
  expect(fromItself.status).toBe(200);
});
