/**
 * `standin connect 5173` means http://localhost:5173, and localhost is both 127.0.0.1 and ::1.
 * A dev server bound to only one of them (Vite on ::1, many others on 127.0.0.1) must be
 * reached either way, as curl and browsers reach it, whatever /etc/hosts lists first.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpRequest } from './helpers/http';
import { startClientProcess, startServerProcess, type ServerProcess, type StandinProcess } from './helpers/processes';

jest.setTimeout(60_000);

let standinServer: ServerProcess;
const running: StandinProcess[] = [];
const apps: http.Server[] = [];

beforeAll(async () => {
  standinServer = await startServerProcess();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((process) => process.stop('SIGINT')));
  for (const app of apps.splice(0)) {
    app.closeAllConnections();
    app.close();
  }
});

afterAll(async () => {
  await standinServer?.stop();
});

async function appOnlyOn(address: string): Promise<number> {
  const app = http.createServer((_req, res) => res.end(`hello from ${address}`));
  await new Promise<void>((resolve) => app.listen(0, address, resolve));
  apps.push(app);
  return (app.address() as AddressInfo).port;
}

test.each(['::1', '127.0.0.1'])('an app listening only on %s is reached as localhost, and passes the start check', async (address) => {
  const port = await appOnlyOn(address);
  const client = await startClientProcess(String(port), standinServer.url, [
    '--name',
    `only-${address === '::1' ? 'six' : 'four'}`,
    '--no-inspect',
  ]);
  running.push(client);
  const response = await httpRequest(`${client.publicUrl}/`);
  expect(response.status).toBe(200);
  expect(response.text).toBe(`hello from ${address}`);
  expect(client.lines.filter((line) => String(line.message).startsWith('nothing answers on'))).toEqual([]);
});
