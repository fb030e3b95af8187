/**
 * Ownership of tunnel names with one shared token (real server and client processes): the first
 * registration claims the name; a second developer with the same token cannot take it while it
 * is live or reserved; the holder's restart resumes it with its port; an admin can release it.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { echoHandler, startLocalApp, type LocalApp } from './helpers/local-app';
import { httpRequest } from './helpers/http';
import { spawnStandin, startClientProcess, startServerProcess, type ServerProcess } from './helpers/processes';
import { HostileClient } from './helpers/hostile-client';
import type { SessionEndedError } from '#shared/errors';

jest.setTimeout(60_000);

const TOKEN = 'shared-token-for-everyone';
const ADMIN = 'admin-token-for-ops';

let app: LocalApp;
let server: ServerProcess;

beforeAll(async () => {
  app = await startLocalApp(echoHandler());
  server = await startServerProcess(['--token', TOKEN, '--admin-token', ADMIN]);
});

afterAll(async () => {
  await server?.stop();
  await app?.close();
});

function newHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'standin-home-'));
}

/** Runs `standin connect` expecting it to be refused; resolves with its exit code and output. */
async function connectRefused(name: string, extraArgs: string[] = []): Promise<{ code: number | null; output: string }> {
  const intruder = spawnStandin(['connect', String(app.port), '--server', server.url, '--name', name, '--no-inspect', ...extraArgs], {
    HOME: newHome(),
    STANDIN_TOKEN: TOKEN,
  });
  const code = await intruder.exitedWithin(15_000);
  return { code, output: intruder.lines.map((line) => JSON.stringify(line)).join('\n') + intruder.stderr.join('') };
}

test('a second developer with the shared token cannot take a live name; the holder keeps serving', async () => {
  const holder = await startClientProcess(String(app.port), server.url, ['--name', 'shop', '--no-inspect'], {
    env: { STANDIN_TOKEN: TOKEN },
  });
  try {
    const state = JSON.parse(fs.readFileSync(path.join(holder.home, '.standin', 'state.json'), 'utf8'));
    expect(state.tunnels[server.url].shop.claimKey).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(fs.statSync(path.join(holder.home, '.standin', 'state.json')).mode & 0o777).toBe(0o600);

    const refused = await connectRefused('shop', ['--port', String(holder.port)]);
    expect(refused.code).toBe(2);
    expect(refused.output).toContain('pick another --name or ask an admin to release it');

    // The holder was not disturbed: same session, its traffic still reaches its app.
    const response = await httpRequest(`${holder.publicUrl}/still-mine`);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text).url).toBe('/still-mine');
    expect(holder.lines.some((line) => String(line.message).includes('replaced') || line.reason === 'replaced')).toBe(false);
    expect(holder.child.exitCode).toBeNull();
  } finally {
    await holder.stop('SIGINT');
  }
});

test('a released name stays reserved for its holder, who gets name and port back on restart', async () => {
  const home = newHome();
  const first = await startClientProcess(String(app.port), server.url, ['--name', 'cart', '--no-inspect'], {
    home,
    env: { STANDIN_TOKEN: TOKEN },
  });
  const port = first.port;
  expect(await first.stop('SIGINT')).toBe(0);

  const refused = await connectRefused('cart');
  expect(refused.code).toBe(2);
  expect(refused.output).toContain('name_in_use');

  // Another name asking for the reserved port gets a different one.
  const other = await startClientProcess(String(app.port), server.url, ['--name', 'other', '--port', String(port), '--no-inspect'], {
    env: { STANDIN_TOKEN: TOKEN },
  });
  expect(other.port).not.toBe(port);
  await other.stop('SIGINT');

  const again = await startClientProcess(String(app.port), server.url, ['--name', 'cart', '--no-inspect'], {
    home,
    env: { STANDIN_TOKEN: TOKEN },
  });
  try {
    expect(again.port).toBe(port);
    const registered = await server.waitForLine(
      (line) => line.message === 'registered tunnel' && line.tunnel === 'cart' && line.resumed === true,
    );
    expect(registered.port).toBe(port);
    expect((await httpRequest(`${again.publicUrl}/back`)).status).toBe(200);
  } finally {
    await again.stop('SIGINT');
  }
});

test('a poll on its way when an admin released the name is told the tunnel stopped, so the client exits instead of taking the name back', async () => {
  // A client whose polls were all in flight at the DELETE: its next poll arrives after the tunnel
  // is forgotten. A 404 not_found there reads as "the server restarted", and the client registers
  // the released name again.
  const late = await HostileClient.register(server.url, 'late-poll', TOKEN);
  try {
    const released = await httpRequest(`${server.url}/_standin/api/tunnels/late-poll?forget=1`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(released.status).toBe(200);
    const [poll] = await late.pollMany(1);
    const error = poll.status === 'rejected' ? (poll.reason as SessionEndedError) : undefined;
    expect({ error: error?.name, code: error?.code, reason: error?.reason }).toEqual({
      error: 'SessionEndedError',
      code: 'tunnel_stopped',
      reason: 'stopped',
    });
  } finally {
    await late.close();
  }
});

test('an admin releases a name with DELETE ?forget=1; then anyone may register it', async () => {
  const holder = await startClientProcess(String(app.port), server.url, ['--name', 'gone', '--no-inspect'], {
    env: { STANDIN_TOKEN: TOKEN },
  });
  const notAdmin = await httpRequest(`${server.url}/_standin/api/tunnels/gone?forget=1`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(notAdmin.status).toBe(403);
  const released = await httpRequest(`${server.url}/_standin/api/tunnels/gone?forget=1`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  expect(released.status).toBe(200);
  expect(await holder.exitedWithin(10_000)).toBe(4);
  expect((await httpRequest(`${server.url}/_standin/api/tunnels/gone`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(
    404,
  );

  const newcomer = await startClientProcess(String(app.port), server.url, ['--name', 'gone', '--no-inspect'], {
    env: { STANDIN_TOKEN: TOKEN },
  });
  try {
    expect((await httpRequest(`${newcomer.publicUrl}/`)).status).toBe(200);
  } finally {
    await newcomer.stop('SIGINT');
  }
});
