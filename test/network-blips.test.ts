/**
 * A network blip never ends `standin connect`: after a freeze or a single reset connection the
 * client reconnects, and the server's `409 session_replaced` answers to the polls of the session
 * it left behind are ignored (only an answer about the current session may end the tunnel).
 */

import { randomUUID } from 'node:crypto';
import { FreezeProxy } from './helpers/freeze-proxy';
import { eventually, httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(90_000);

let app: LocalApp;
let server: ServerProcess;
let proxy: FreezeProxy;
let client: ClientProcess;

beforeEach(async () => {
  app = await startLocalApp((req, res) => {
    req.resume();
    req.once('end', () => res.end(req.url));
  });
  server = await startServerProcess(['--poll-timeout', '2s', '--request-timeout', '5s']);
  proxy = await new FreezeProxy(server.mainPort).start();
  client = await startClientProcess(String(app.port), proxy.url, ['--name', 'blippy', '--no-inspect']);
});

afterEach(async () => {
  await client?.stop('SIGKILL');
  await proxy?.close();
  await server?.stop();
  await app?.close();
});

async function markerAnswers(): Promise<boolean> {
  const path = `/marker/${randomUUID()}`;
  try {
    return (await httpRequest(`${client.publicUrl}${path}`, { timeoutMs: 3_000 })).text === path;
  } catch {
    return false;
  }
}

/** The client reconnected, serves again, and is still running a while later. */
async function expectSurvived(): Promise<void> {
  await client.waitForLine((line) => line.message === 'reconnected', 30_000);
  await eventually(markerAnswers, 20_000, 250);
  // Stale answers of the old session arrive late: give them time to do harm.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect(client.child.exitCode).toBeNull();
  expect(client.lines.map((line) => line.message)).not.toContain('another client registered this tunnel name');
  expect(await markerAnswers()).toBe(true);
}

test('a 14 s network freeze (no FIN or RST) does not end the client', async () => {
  expect(await markerAnswers()).toBe(true);
  proxy.freeze();
  await new Promise((resolve) => setTimeout(resolve, 14_000));
  proxy.thaw();
  await expectSurvived();
});

test('a single reset connection does not end the client', async () => {
  expect(await markerAnswers()).toBe(true);
  // One connection at a time, oldest first, until one that carried a poll is hit and the client
  // notices the lost connection (a reset idle keep-alive connection is simply replaced).
  for (let attempt = 0; attempt < 12 && !client.lines.some((line) => line.message === 'connection lost'); attempt++) {
    expect(proxy.resetOne()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  await expectSurvived();
});
