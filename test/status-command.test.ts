/** `standin status`: the real CLI against a real server with one tunnel, as a table and as JSON. */

import { execFile } from 'node:child_process';
import { formatStatusTable, formatTimeLeft } from '../client/cli/status-command';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, STANDIN_BIN, type ClientProcess, type ServerProcess } from './helpers/processes';
import { eventually, httpRequest } from './helpers/http';

jest.setTimeout(60_000);

let app: LocalApp;
let server: ServerProcess;
let client: ClientProcess;

beforeAll(async () => {
  app = await startLocalApp((_req, res) => res.end('ok'));
  server = await startServerProcess(['--health-interval', '1s']);
  client = await startClientProcess(String(app.port), server.url, ['--name', 'listed', '--ttl', '3h']);
  await eventually(
    async () => JSON.parse((await httpRequest(`${server.url}/_standin/api/tunnels/listed`)).text).health.status === 'healthy',
    15_000,
  );
});

afterAll(async () => {
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

function runStatus(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [STANDIN_BIN, 'status', ...args],
      { timeout: 20_000, env: { PATH: process.env.PATH ?? '', ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as NodeJS.ErrnoException & { code?: unknown }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

test('standin status prints a table with the tunnel, its port, state, health and time left', async () => {
  const { code, stdout } = await runStatus(['--server', server.url]);
  expect(code).toBe(0);
  const [header, row] = stdout.trimEnd().split('\n');
  expect(header).toMatch(/^NAME\s+PORT\s+STATE\s+HEALTH\s+LATENCY\s+TIME LEFT\s+REQUESTS\s+ERRORS\s+OWNER\s+TARGET$/);
  expect(row).toMatch(
    new RegExp(
      `^listed\\s+${client.port}\\s+active\\s+healthy\\s+\\d+ ms\\s+(2h 59m|3h 0m) left\\s+0\\s+0\\s+\\S+@\\S+\\s+http://localhost:${app.port}$`,
    ),
  );
});

test('standin status --json prints the status API answer', async () => {
  const { code, stdout } = await runStatus(['--server', server.url, '--json']);
  expect(code).toBe(0);
  const tunnels = JSON.parse(stdout);
  expect(tunnels).toHaveLength(1);
  expect(tunnels[0]).toEqual(expect.objectContaining({ name: 'listed', port: client.port, state: 'active' }));
  expect(tunnels[0].health.status).toBe('healthy');
});

test('standin status exits 1 with a message when the server cannot be reached, 2 without --server', async () => {
  const unreachable = await runStatus(['--server', 'http://127.0.0.1:1']);
  expect(unreachable.code).toBe(1);
  expect(unreachable.stderr).toMatch(/could not read http:\/\/127\.0\.0\.1:1\/_standin\/api\/tunnels/);
  expect((await runStatus([])).code).toBe(2);
});

test('standin status takes the token like connect: STANDIN_TOKEN exported or --token, sent as a bearer', async () => {
  const seen: (string | undefined)[] = [];
  const statusApi = await startLocalApp((req, res) => {
    seen.push(req.headers.authorization);
    res.setHeader('content-type', 'application/json');
    res.end('[]');
  });
  try {
    const fromEnv = await runStatus(['--server', statusApi.url], { STANDIN_TOKEN: 'env-secret' });
    expect(fromEnv.stderr).not.toMatch(/Unknown argument/);
    expect(fromEnv.code).toBe(0);
    expect((await runStatus(['--server', statusApi.url, '--token', 'flag-secret'])).code).toBe(0);
    expect(seen).toEqual(['Bearer env-secret', 'Bearer flag-secret']);
  } finally {
    await statusApi.close();
  }
});

test('time left reads "Expired" after expiry and the table says when there are no tunnels', () => {
  const now = Date.parse('2030-01-01T12:00:00Z');
  expect(formatTimeLeft({ expiresAt: '2030-01-01T15:12:00Z', state: 'active', stopReason: null }, now)).toBe('3h 12m left');
  expect(formatTimeLeft({ expiresAt: '2030-01-01T11:00:00Z', state: 'active', stopReason: null }, now)).toBe('Expired');
  expect(formatStatusTable([])).toBe('No tunnels.\n');
});
